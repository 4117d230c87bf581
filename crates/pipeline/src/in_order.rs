//! Work on several threads, results taken in the order the work came:
//! pieces are decoded on every core while the pipeline, on the calling
//! thread, takes their events in input order, so the output is the same
//! whatever the number of threads.
//!
//! Written on `std` threads rather than a pool crate: the pipeline needs
//! order kept, a bound on how far decoding runs ahead (memory), and the
//! consumer working at the same time as the workers, which neither
//! rayon's ordered collect (all at once) nor its bridge (unordered) gives.

use std::collections::BTreeMap;
use std::sync::mpsc;
use std::sync::{Condvar, Mutex, PoisonError};

/// How many threads work: `requested`, or one per core when 0.
pub fn worker_count(requested: usize) -> usize {
    if requested > 0 {
        return requested;
    }
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// Run `work` on each of `jobs` on `workers` threads and hand the results
/// to `take`, on this thread, in the order of `jobs`. At most `ahead`
/// results wait to be taken beyond the one `take` is on. The first error
/// of `take` stops the work and is returned. With one worker everything
/// runs on this thread, job by job.
pub fn map_in_order<J, R, E>(
    jobs: impl Iterator<Item = J> + Send,
    workers: usize,
    ahead: usize,
    work: impl Fn(J) -> R + Sync,
    mut take: impl FnMut(R) -> Result<(), E>,
) -> Result<(), E>
where
    J: Send,
    R: Send,
{
    if workers <= 1 {
        for job in jobs {
            take(work(job))?;
        }
        return Ok(());
    }
    let ahead = ahead.max(1);
    let source = Mutex::new(jobs.enumerate());
    // How many results were taken, and whether taking stopped.
    let taken = (Mutex::new((0usize, false)), Condvar::new());
    std::thread::scope(|scope| {
        let (send, receive) = mpsc::sync_channel::<(usize, R)>(ahead);
        for _ in 0..workers {
            let send = send.clone();
            let (source, taken, work) = (&source, &taken, &work);
            scope.spawn(move || {
                loop {
                    let next = source.lock().unwrap_or_else(PoisonError::into_inner).next();
                    let Some((index, job)) = next else { break };
                    // Wait until the result is within `ahead` of the one
                    // being taken (the one taken next is never waited on).
                    let (count, cond) = taken;
                    let mut state = count.lock().unwrap_or_else(PoisonError::into_inner);
                    while !state.1 && index >= state.0 + ahead {
                        state = cond.wait(state).unwrap_or_else(PoisonError::into_inner);
                    }
                    if state.1 {
                        break;
                    }
                    drop(state);
                    if send.send((index, work(job))).is_err() {
                        break;
                    }
                }
            });
        }
        drop(send);
        let stop = |taken_so_far: usize, stopped: bool| {
            let (count, cond) = &taken;
            *count.lock().unwrap_or_else(PoisonError::into_inner) = (taken_so_far, stopped);
            cond.notify_all();
        };
        let mut waiting = BTreeMap::new();
        let mut next = 0usize;
        for (index, result) in receive.iter() {
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&next) {
                if let Err(e) = take(result) {
                    stop(next, true);
                    return Err(e);
                }
                next += 1;
                stop(next, false);
            }
        }
        // Every worker ended (one that panicked is re-raised when the
        // scope joins it).
        Ok(())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_order_of_the_jobs_however_long_each_takes() {
        let mut seen = Vec::new();
        let work = |i: u64| {
            // Later jobs finish first.
            std::thread::sleep(std::time::Duration::from_micros((50 - i) * 20));
            i * 2
        };
        map_in_order(0..50u64, 3, 4, work, |r| {
            seen.push(r);
            Ok::<_, ()>(())
        })
        .unwrap();
        assert_eq!(seen, (0..50).map(|i| i * 2).collect::<Vec<_>>());
    }

    #[test]
    fn work_runs_no_further_ahead_than_allowed() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let started = AtomicUsize::new(0);
        let mut most_ahead = 0;
        map_in_order(
            0..200usize,
            4,
            3,
            |i| {
                started.fetch_add(1, Ordering::SeqCst);
                i
            },
            |i| {
                // Jobs started beyond this one.
                let ahead = started.load(Ordering::SeqCst) - (i + 1);
                most_ahead = most_ahead.max(ahead);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
        assert!(most_ahead <= 3, "ran {most_ahead} ahead");
    }

    #[test]
    fn the_first_error_of_the_taker_stops_the_work() {
        use std::sync::atomic::{AtomicUsize, Ordering};
        let done = AtomicUsize::new(0);
        let result = map_in_order(
            0..10_000usize,
            2,
            8,
            |i| {
                done.fetch_add(1, Ordering::SeqCst);
                i
            },
            |i| if i == 5 { Err(i) } else { Ok(()) },
        );
        assert_eq!(result, Err(5));
        assert!(done.load(Ordering::SeqCst) < 100);
    }

    #[test]
    fn one_worker_runs_on_the_calling_thread() {
        let here = std::thread::current().id();
        map_in_order(
            0..3,
            1,
            1,
            |_| std::thread::current().id(),
            |id| {
                assert_eq!(id, here);
                Ok::<_, ()>(())
            },
        )
        .unwrap();
    }
}

//! The service's upkeep thread: the store's upkeep policy on a timer,
//! beside the stream (Delta commits of the two never conflict: compaction
//! changes no data, appends are blind).

use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use delegraph_store::Upkeep;

/// Run `upkeep` over `data_dir` every `every` until `stop`; a failed pass
/// is reported and tried again at the next.
pub fn spawn(
    data_dir: PathBuf,
    upkeep: Upkeep,
    every: Duration,
    stop: Arc<AtomicBool>,
) -> std::io::Result<std::thread::JoinHandle<()>> {
    std::thread::Builder::new()
        .name("upkeep".into())
        .spawn(move || {
            let mut next = Instant::now() + every;
            while !stop.load(Ordering::Relaxed) {
                if Instant::now() < next {
                    std::thread::sleep(Duration::from_millis(200));
                    continue;
                }
                next = Instant::now() + every;
                match upkeep.run(&data_dir, delegraph_model::Timestamp::now().nanos()) {
                    Ok(r) => tracing::info!(
                        days_compacted = r.days_compacted,
                        files_compacted = r.files_compacted,
                        files_expired = r.files_expired,
                        files_vacuumed = r.files_vacuumed,
                        dead_letters_expired = r.dead_letters_expired,
                        "store upkeep"
                    ),
                    Err(e) => eprintln!(
                        "store upkeep failed (tried again in {}s): {}",
                        every.as_secs(),
                        delegraph_model::printable(&e.to_string())
                    ),
                }
            }
        })
}

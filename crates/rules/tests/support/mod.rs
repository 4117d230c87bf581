pub mod versus;

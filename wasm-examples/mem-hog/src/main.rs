//! A job that keeps allocating memory, 1 MiB at a time, touching every page,
//! until it has MAX_MB (default: no bound). Under a memory limit it must be
//! stopped by the runtime and reported OOMKilled.

fn main() {
    let max_mb: Option<usize> = std::env::var("MAX_MB").ok().and_then(|s| s.parse().ok());
    let mut held: Vec<Vec<u8>> = Vec::new();
    loop {
        if max_mb.is_some_and(|m| held.len() >= m) {
            println!("holding {} MiB, done", held.len());
            return;
        }
        // Filled, not just reserved, so the memory is really used.
        held.push(vec![0xA5; 1024 * 1024]);
        if held.len() % 8 == 0 {
            println!("holding {} MiB", held.len());
        }
    }
}

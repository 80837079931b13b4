//! A CPU-bound job: counts the primes below N (default 2,000,000) by trial
//! division, the slow way on purpose. With `forever` it never stops, which is
//! what a CPU limit or a stop has to deal with.

fn is_prime(n: u64) -> bool {
    if n < 2 {
        return false;
    }
    let mut d = 2;
    while d * d <= n {
        if n % d == 0 {
            return false;
        }
        d += 1;
    }
    true
}

fn main() {
    let arg = std::env::args().nth(1);
    if arg.as_deref() == Some("forever") {
        let mut n: u64 = 0;
        let mut found: u64 = 0;
        loop {
            n = n.wrapping_add(1);
            if is_prime(n % 10_000_000) {
                found = found.wrapping_add(1);
            }
            if n % 5_000_000 == 0 {
                println!("still counting: {found} primes so far");
            }
        }
    }
    let limit: u64 = arg.and_then(|s| s.parse().ok()).unwrap_or(2_000_000);
    let count = (0..limit).filter(|&n| is_prime(n)).count();
    println!("{count} primes below {limit}");
}

//! Sets of completion indexes in Kubernetes' compressed text form
//! (`status.completedIndexes`, `status.failedIndexes`,
//! `successPolicy.rules[].succeededIndexes`): increasing decimal numbers,
//! runs of three or more written `first-last`, e.g. `1,3-5,7`.

use std::collections::BTreeSet;

/// A set of completion indexes.
pub type Indexes = BTreeSet<i32>;

/// Parses the compressed form, keeping only indexes below `limit`
/// (Kubernetes ignores out-of-range entries rather than failing the Job).
/// Malformed pieces are skipped: the status is the controller's own
/// output, and a garbled piece must not wedge the Job.
pub fn parse(s: &str, limit: i32) -> Indexes {
    let mut out = Indexes::new();
    for part in s.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = match part.split_once('-') {
            Some((a, b)) => (a.parse::<i32>(), b.parse::<i32>()),
            None => (part.parse::<i32>(), part.parse::<i32>()),
        };
        if let (Ok(a), Ok(b)) = (a, b) {
            out.extend((a.max(0)..=b.min(limit.saturating_sub(1))).filter(|i| *i >= a));
        }
    }
    out
}

/// Formats in the compressed form; empty for an empty set.
pub fn format(set: &Indexes) -> String {
    let mut parts: Vec<String> = Vec::new();
    let mut iter = set.iter().copied().peekable();
    while let Some(first) = iter.next() {
        let mut last = first;
        while iter.peek() == Some(&(last + 1)) {
            last += 1;
            iter.next();
        }
        match last - first {
            0 => parts.push(first.to_string()),
            // Two in a row stay a list, as Kubernetes prints them.
            1 => parts.push(format!("{first},{last}")),
            _ => parts.push(format!("{first}-{last}")),
        }
    }
    parts.join(",")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_the_kubernetes_form() {
        let set: Indexes = [1, 3, 4, 5, 7, 9, 10].into_iter().collect();
        assert_eq!(format(&set), "1,3-5,7,9,10");
        assert_eq!(parse("1,3-5,7,9,10", 100), set);
        assert_eq!(format(&Indexes::new()), "");
        assert_eq!(parse("", 5), Indexes::new());
        // Out of range and malformed pieces are dropped.
        assert_eq!(parse("0,2-9,x,3-", 4), [0, 2, 3].into_iter().collect());
    }
}

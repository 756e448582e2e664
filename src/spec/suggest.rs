//! "Did you mean" suggestions: the known name closest to a misspelled one.

/// Returns the candidate closest to `wrong` by edit distance, if it is close enough to be a
/// plausible typo: at most a third of the longer name, and at least one edit allowed.
pub fn closest<'a>(wrong: &str, candidates: impl IntoIterator<Item = &'a str>) -> Option<String> {
    let wrong_lower = wrong.to_lowercase();
    let mut best: Option<(usize, &str)> = None;
    for candidate in candidates {
        let distance = edit_distance(&wrong_lower, &candidate.to_lowercase());
        let allowed = (wrong.chars().count().max(candidate.chars().count()) / 3).max(1);
        if distance <= allowed && best.is_none_or(|(best_distance, _)| distance < best_distance) {
            best = Some((distance, candidate));
        }
    }
    best.map(|(_, name)| name.to_string())
}

/// Levenshtein distance over characters.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut previous: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut current = vec![i + 1];
        for (j, cb) in b.iter().enumerate() {
            let substitution = previous[j] + usize::from(ca != *cb);
            current.push(substitution.min(previous[j + 1] + 1).min(current[j] + 1));
        }
        previous = current;
    }
    previous[b.len()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn typo_finds_key() {
        let keys = ["hidden", "read_only", "overlay", "full_access"];
        assert_eq!(closest("readonly", keys), Some("read_only".to_string()));
        assert_eq!(closest("overlya", keys), Some("overlay".to_string()));
    }

    #[test]
    fn unrelated_word_has_no_suggestion() {
        assert_eq!(closest("banana", ["hidden", "overlay"]), None);
    }

    #[test]
    fn distance_counts_edits() {
        assert_eq!(edit_distance("kitten", "sitting"), 3);
        assert_eq!(edit_distance("", "abc"), 3);
    }
}

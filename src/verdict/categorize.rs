//! Comparing a tool's answer with the expected one.
//!
//! Answers are compared case-insensitively, after trimming. An answer may carry a
//! subproperty in parentheses, as in `false(unreach-call)`: an expected `false` accepts any
//! `false(...)`, while an expected `false(unreach-call)` accepts only that subproperty.

use super::Category;

/// The category of a run that produced `answer`.
///
/// `unknown` is category unknown whatever was expected; without an expected answer the
/// category is missing.
pub fn categorize(answer: &str, expected: Option<&str>) -> Category {
    if answer.trim().eq_ignore_ascii_case("unknown") {
        return Category::Unknown;
    }

    match expected {
        None => Category::Missing,
        Some(expected) if answers_agree(answer, expected) => Category::Correct,
        Some(_) => Category::Wrong,
    }
}

/// Whether `answer` is the `expected` answer, by the rules in the module documentation.
pub fn answers_agree(answer: &str, expected: &str) -> bool {
    let answer = answer.trim().to_lowercase();
    let expected = expected.trim().to_lowercase();
    if answer == expected {
        return true;
    }

    if expected.contains('(') {
        return false;
    }
    answer.strip_prefix(expected.as_str()).is_some_and(|rest| rest.starts_with('(') && rest.ends_with(')'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_answer_is_correct() {
        assert_eq!(categorize("unsat", Some("unsat")), Category::Correct);
    }

    #[test]
    fn case_is_ignored() {
        assert_eq!(categorize("UNSAT", Some("unsat")), Category::Correct);
        assert_eq!(categorize("sat", Some("SAT")), Category::Correct);
    }

    #[test]
    fn surrounding_space_is_ignored() {
        assert_eq!(categorize(" sat\n", Some("sat")), Category::Correct);
    }

    #[test]
    fn different_answer_is_wrong() {
        assert_eq!(categorize("sat", Some("unsat")), Category::Wrong);
    }

    #[test]
    fn unknown_answer_is_unknown() {
        assert_eq!(categorize("unknown", Some("unsat")), Category::Unknown);
        assert_eq!(categorize("UNKNOWN", None), Category::Unknown);
    }

    #[test]
    fn no_expected_is_missing() {
        assert_eq!(categorize("sat", None), Category::Missing);
    }

    #[test]
    fn plain_false_accepts_any_subproperty() {
        assert_eq!(categorize("false(unreach-call)", Some("false")), Category::Correct);
        assert_eq!(categorize("FALSE(valid-deref)", Some("false")), Category::Correct);
    }

    #[test]
    fn subproperty_must_match_exactly() {
        assert_eq!(categorize("false(valid-deref)", Some("false(valid-deref)")), Category::Correct);
        assert_eq!(categorize("false(valid-free)", Some("false(valid-deref)")), Category::Wrong);
    }

    #[test]
    fn missing_subproperty_is_wrong() {
        assert_eq!(categorize("false", Some("false(valid-deref)")), Category::Wrong);
    }

    #[test]
    fn prefix_without_parentheses_is_wrong() {
        assert_eq!(categorize("falsey", Some("false")), Category::Wrong);
        assert_eq!(categorize("false(x", Some("false")), Category::Wrong);
    }

    #[test]
    fn other_verdict_with_subproperty_is_wrong() {
        assert_eq!(categorize("true(x)", Some("false")), Category::Wrong);
    }
}

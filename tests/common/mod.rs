//! Helpers shared by the integration tests.

use std::io::Write;

/// Returns whether the test runs as root and may use privileged features.
///
/// When not root, it prints a SKIP line naming the caller to stderr and returns false, so
/// the test can return early. With `CELLRUN_REQUIRE_PRIVILEGED=1` set (as in CI), a missing
/// privilege fails the test instead, so that no privileged test passes without running.
#[track_caller]
pub fn require_root() -> bool {
    if nix::unistd::geteuid().is_root() {
        return true;
    }
    let caller = std::panic::Location::caller();
    if std::env::var("CELLRUN_REQUIRE_PRIVILEGED").is_ok_and(|value| value == "1") {
        panic!(
            "{caller}: this test needs root, and CELLRUN_REQUIRE_PRIVILEGED=1 forbids skipping it"
        );
    }
    // Written to the stderr handle, not with eprintln!, because the test harness captures
    // the print macros of passing tests and the skip must stay visible.
    let message = format!(
        "SKIP {caller}: this test needs root; run it as root, or set \
         CELLRUN_REQUIRE_PRIVILEGED=1 to make the skip a failure\n"
    );
    let _ = std::io::stderr().write_all(message.as_bytes());
    false
}

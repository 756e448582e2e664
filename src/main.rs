use clap::Parser;

use cellrun::container::{helper_main, protocol::HELPER_ARGUMENT};

fn main() {
    // The container helper is this same executable; it must stay single-threaded, so it is
    // dispatched before anything else starts.
    if std::env::args_os().nth(1).is_some_and(|arg| arg == HELPER_ARGUMENT) {
        std::process::exit(helper_main());
    }
    cellrun::cli::init_logging();
    let cli = cellrun::cli::Cli::parse();
    std::process::exit(cellrun::cli::run(cli));
}

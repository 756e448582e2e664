use clap::Parser;

fn main() {
    let cli = cellrun::cli::Cli::parse();
    std::process::exit(cellrun::cli::run(cli));
}

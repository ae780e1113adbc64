fn main() -> std::process::ExitCode {
    stagegate_server::cli::main()
}

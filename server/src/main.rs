fn main() {
    eprintln!("stagegate: not built yet");
    std::process::exit(2);
}

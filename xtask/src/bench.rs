pub fn bench() -> anyhow::Result<()> {
    Ok(())
}

"""One script per figure; each exposes ``make(budget, out_dir) -> list[Path]``."""

"""Command line: thin typer commands that parse arguments and call plain functions.

Each command's work lives in a library function (what tests and notebooks call); this module only
parses, configures logging for the terminal, prints results and maps typed errors to exit codes.
Heavy imports happen inside commands so that ``convo-outcomes --help`` stays fast.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import List, Optional

import typer

app = typer.Typer(add_completion=False, no_args_is_help=True, help="Conversation outcomes: score, train, report.")
data_app = typer.Typer(no_args_is_help=True, help="Read, validate, generate and split conversation archives.")
app.add_typer(data_app, name="data")


class CliError(Exception):
    """Base for errors the CLI reports as one line and exit code 2."""


@app.callback()
def _main(verbose: bool = typer.Option(False, "--verbose", "-v", help="Debug logging.")) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )


def _fail(message: str, code: int = 2) -> None:
    typer.secho(f"error: {message}", fg=typer.colors.RED, err=True)
    raise typer.Exit(code)


# --------------------------------------------------------------------------------------------- data


@data_app.command("validate")
def data_validate(
    paths: List[Path] = typer.Argument(..., help="JSONL/CSV/Parquet files or folders of .txt transcripts."),
    rejects: Optional[Path] = typer.Option(None, help="Write rejected records here (JSONL), with reasons."),
    input_format: Optional[str] = typer.Option(None, "--format", help="jsonl, csv, parquet or text; default: by suffix."),
    id_column: str = typer.Option("id", help="CSV/Parquet: column holding the conversation id."),
    turns_column: str = typer.Option("turns", help="CSV/Parquet: column holding turns as JSON."),
    transcript_column: str = typer.Option("transcript", help="CSV/Parquet: column holding 'Agent:/Customer:' text."),
    max_turns: int = typer.Option(2000, help="Reject conversations with more turns."),
    max_turn_chars: int = typer.Option(20_000, help="Reject turns longer than this."),
    max_conversation_chars: int = typer.Option(400_000, help="Reject conversations longer than this."),
    strict: bool = typer.Option(False, "--strict", help="Reject records with any blank turn (default: warn, keep)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Also write the report as JSON."),
) -> None:
    """Check archives against the conversation contract; exit 1 when anything was rejected."""
    from .data import ColumnMap, DataError, Limits, validate_paths

    try:
        report = validate_paths(
            paths,
            rejects_path=rejects,
            input_format=input_format,
            columns=ColumnMap(id=id_column, turns=turns_column, transcript=transcript_column),
            limits=Limits(
                max_turns=max_turns,
                max_turn_chars=max_turn_chars,
                max_conversation_chars=max_conversation_chars,
                empty_turns="reject" if strict else "warn",
            ),
        )
    except DataError as e:
        _fail(str(e))
    typer.echo(report.to_text())
    if json_out:
        json_out.write_text(json.dumps(report.to_dict(), indent=2))
    raise typer.Exit(1 if report.rejected else 0)


@data_app.command("synth")
def data_synth(
    n: int = typer.Option(1000, "--n", help="Number of conversations."),
    seed: int = typer.Option(0, "--seed", help="Random seed: same seed, same bytes."),
    out: Path = typer.Option(..., "--out", help="Output JSONL file."),
    long_share: Optional[float] = typer.Option(None, help="Share of long calls (3,000+ tokens); default from config."),
    label_noise: Optional[float] = typer.Option(None, help="Share of labels flipped on purpose; default from config."),
) -> None:
    """Generate story-driven contact-center conversations with labels that follow from what happens."""
    from .synth import SynthConfig, generate

    overrides = {k: v for k, v in {"long_share": long_share, "label_noise": label_noise}.items() if v is not None}
    try:
        summary = generate(n=n, seed=seed, out=out, config=SynthConfig(**overrides))
    except ValueError as e:
        _fail(str(e))
    typer.echo(summary.to_text())


@data_app.command("split")
def data_split(
    paths: List[Path] = typer.Argument(..., help="JSONL archives to split."),
    out_dir: Path = typer.Option(..., "--out-dir", help="Writes NAME.train.jsonl, NAME.validation.jsonl, NAME.test.jsonl."),
    seed: int = typer.Option(0, help="Hash salt: the same seed gives the same split."),
    validation: float = typer.Option(0.1, help="Share for validation."),
    test: float = typer.Option(0.1, help="Share for test."),
) -> None:
    """Deterministic train/validation/test split by conversation, one customer never in two splits."""
    from .data import DataError, split_files

    try:
        counts = split_files(paths, out_dir=out_dir, seed=seed, validation=validation, test=test)
    except DataError as e:
        _fail(str(e))
    for name, c in counts.items():
        typer.echo(f"{name}: " + ", ".join(f"{k}={v}" for k, v in c.items()))


# -------------------------------------------------------------------------------------------- train


@app.command("train")
def train_cmd(
    config: Path = typer.Option(..., "--config", help="YAML under training/configs/."),
    overrides: List[str] = typer.Argument(None, help="Dotted overrides, e.g. optim.epochs=1 data.synth.n=500."),
    resume: bool = typer.Option(False, "--resume", help="Continue from OUTPUT_DIR/checkpoint."),
    output_dir: Optional[Path] = typer.Option(None, help="Overrides the config's output_dir."),
) -> None:
    """Fine-tune the multi-head model; checkpoints every few minutes and at every epoch."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .config import ConfigError, TrainConfig
    from .train import TrainError, train

    try:
        cfg = TrainConfig.load(config, overrides or [])
        result = train(cfg, resume=resume, output_dir=output_dir)
    except (ConfigError, TrainError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(f"trained {result.steps} steps in {result.minutes:.1f} min; best validation mean macro-F1 {result.best_score:.4f}")
    typer.echo(f"model: {result.final_dir}")


if __name__ == "__main__":  # pragma: no cover
    app()

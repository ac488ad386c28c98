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


@app.command("evaluate")
def evaluate_cmd(
    model: Path = typer.Option(..., "--model", help="An exported model folder (models/NAME) or a training checkpoint folder."),
    data: List[Path] = typer.Option([], "--data", help="Labelled conversations (JSONL/CSV/Parquet); repeatable; filtered by --split."),
    heldout: List[Path] = typer.Option([], "--heldout", help="Labelled files used whole (never trained on, e.g. a generated test set)."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full report here."),
    split: str = typer.Option("all", help="all, or train/validation/test: only records the model's split assigns there."),
    baselines: List[str] = typer.Option([], "--baseline", help="tfidf_lr and/or frozen_lr, trained on --train's train split."),
    train_data: List[Path] = typer.Option([], "--train", help="Training files for the baselines (the model's sources)."),
) -> None:
    """Per-head, per-source metrics (accuracy, macro-F1, AUC, ECE, Brier, confusion) on labelled data."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .data import DataError
    from .metrics import compare_table, evaluate_model, format_report

    encoder_dir = None
    if "frozen_lr" in baselines:
        from .model import minilm_dir

        encoder_dir = minilm_dir()
    try:
        report = evaluate_model(
            model, data, split=split, baselines=baselines, train_data=train_data, encoder_dir=encoder_dir, heldout_data=heldout
        )
    except (DataError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(format_report(report, title=f"{model} on {', '.join(map(str, data))} (split: {split}) + {', '.join(map(str, heldout)) or 'nothing else'}"))
    if report.get("baselines"):
        typer.echo("")
        typer.echo(compare_table({"fine-tuned": report, **report["baselines"]}))
    for name, sl in report.get("slices", {}).items():
        accs = ", ".join(f"{h} {m['accuracy']:.3f}" for h, m in sl["heads"].items())
        typer.echo(f"slice {name} (n={sl['n']}): accuracy {accs}")
    for h, ev in report.get("evidence", {}).items():
        typer.echo(f"evidence {h}: decisive turn among the evidence in {ev['hit_rate']:.1%} of {ev['n']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Training output folder (runs/NAME/final)."),
    output: Path = typer.Option(..., "--output", help="Model folder to write, e.g. models/default."),
    quantize: str = typer.Option("int8", help="int8 (dynamic, per-channel) or none."),
    validation: List[Path] = typer.Option([], "--validation", help="Labelled data for the int8 metric-change check."),
    split: str = typer.Option("validation", help="Which split of --validation files to use (the model's split)."),
    max_validation: int = typer.Option(2000, help="Cap on validation records for the parity check."),
    keep_fp32: str = typer.Option("none", help="Matmuls left in fp32: 'ffn_output' (each layer's FFN down-projection) or 'none'."),
) -> None:
    """ONNX export (encoder int8 + heads fp32), model card, manifest, and a parity check against torch."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .export import ExportError, export_model
    from .metrics import _split_settings, load_eval_data

    val = None
    if validation:
        cfg = json.loads((checkpoint / "outcome_config.json").read_text())
        val = load_eval_data(validation, split, _split_settings(cfg))
        if len(val) > max_validation:  # a seeded sample across all sources, not the first files only
            import random

            val = random.Random(0).sample(val, max_validation)
    try:
        if keep_fp32 not in ("none", "ffn_output"):
            raise ExportError(f"--keep-fp32 must be 'none' or 'ffn_output', found {keep_fp32!r}")
        result = export_model(checkpoint, output, quantize=quantize, validation=val, keep_fp32=() if keep_fp32 == "none" else (keep_fp32,))
    except ExportError as e:
        _fail(str(e))
    typer.echo(json.dumps(result.parity, indent=2))
    typer.echo(f"exported to {result.output}: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(result.files.items())))


@app.command("card")
def card_cmd(
    model: Path = typer.Argument(..., help="Exported model folder."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="An evaluate --json report to include."),
) -> None:
    """Regenerate a model folder's card (README.md), metrics.json and manifest."""
    from .export import write_card

    report = json.loads(metrics.read_text()) if metrics else None
    typer.echo(f"wrote {write_card(model, report)}")


@app.command("score")
def score_cmd(
    inputs: List[Path] = typer.Argument(..., help="Archives: JSONL/CSV/Parquet files or folders."),
    model: Path = typer.Option(Path("models/default"), "--model", help="Exported model folder."),
    output: Path = typer.Option(..., "--output", help="Scores file: .jsonl, .csv or .parquet."),
    rejects: Optional[Path] = typer.Option(None, help="Rejects file (default: next to the output)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run: no lost, no duplicated rows."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over even if an unfinished run exists."),
    batch_size: int = typer.Option(64, help="Conversations per scoring call."),
    workers: int = typer.Option(0, help="Worker processes (each one onnxruntime thread); 0 = in process. Ray: actors (0 = cluster CPUs - 1)."),
    threads: Optional[int] = typer.Option(None, help="onnxruntime threads in process (default: all cores). Ray: per actor (default 1)."),
    input_format: Optional[str] = typer.Option(None, "--format", help="jsonl, csv, parquet or text; default: by suffix."),
    engine: str = typer.Option("local", help="local (this machine) or ray (a Ray cluster; Parquet output only)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (ray engine); default: $RAY_ADDRESS, else a local cluster."),
) -> None:
    """Score archives: one row per conversation with labels, probabilities, confidence and evidence."""
    from .batch import ScoreError, score_archive
    from .data import DataError
    from .runtime import ModelLoadError

    if engine not in ("local", "ray"):
        _fail(f"--engine {engine!r} is not available; expected 'local' or 'ray'")
    if engine == "local" and address:
        _fail("--address only applies to --engine ray")
    if engine == "ray" and not output.name.lower().endswith(".parquet"):
        _fail(f"--engine ray writes Parquet only: pass --output NAME.parquet (got {output.name})")
    try:
        if engine == "ray":
            from .distributed import score_archive_ray

            summary = score_archive_ray(
                inputs, model, output, rejects=rejects, resume=resume, overwrite=overwrite, batch_size=batch_size, actors=workers, threads=threads or 1, input_format=input_format, address=address
            )
        else:
            summary = score_archive(
                inputs, model, output, rejects=rejects, resume=resume, overwrite=overwrite, batch_size=batch_size, workers=workers, threads=threads, input_format=input_format
            )
    except (ScoreError, DataError, ModelLoadError) as e:
        _fail(str(e))
    typer.echo(summary.to_text())


# ------------------------------------------------------------------------------------------- report


@app.command("report")
def report_cmd(
    scores: Path = typer.Argument(..., help="Scores file from `convo-outcomes score` (.jsonl, .csv or .parquet)."),
    finance: Optional[Path] = typer.Option(None, "--finance", help="Finance assumptions YAML (default: the documented resources/finance.yaml)."),
    output: Path = typer.Option(Path("report.html"), "--output", help="HTML report; NAME.json and NAME_tables/*.csv are written next to it."),
    cause_source: str = typer.Option("auto", "--cause-source", help="auto (labelled cause where present, else predicted), predicted or true."),
) -> None:
    """One self-contained HTML report with money levers, measured FCR/repeats, slices and calibration."""
    from .finance import FinanceError
    from .report import ReportError, build_report

    try:
        result = build_report(scores, finance=finance, output=output, cause_source=cause_source)
    except (ReportError, FinanceError) as e:
        _fail(str(e))
    typer.echo(result.to_text())


@app.command("serve")
def serve_cmd(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(3000, help="Port to listen on."),
    model: Path = typer.Option(Path("models/default"), "--model", help="Exported model folder."),
    policy: Optional[Path] = typer.Option(None, "--policy", help="Decision policy YAML (default: the packaged one)."),
    audit: str = typer.Option("audit/decisions.jsonl", "--audit", help="Audit log (JSONL, rotated); '' turns it off."),
    audit_max_mb: float = typer.Option(50.0, help="Rotate the audit log at this size."),
    audit_backups: int = typer.Option(5, help="Rotated audit files to keep."),
    auth_token_env: Optional[str] = typer.Option(None, help="Require 'Authorization: Bearer $VAR' (refuses to start when VAR is unset). Default: CONVO_OUTCOMES_API_TOKEN, if set."),
    max_body_kb: int = typer.Option(1024, help="Largest request body accepted (413 above)."),
    max_batch: int = typer.Option(32, help="Most conversations in one /v1/score/batch call."),
    max_concurrency: int = typer.Option(16, help="Scoring requests admitted per worker, running + queued (429 above); size it as latency budget / scoring time."),
    timeout: float = typer.Option(10.0, help="Seconds before a scoring request answers 504."),
    cache_mb: float = typer.Option(64.0, help="Mid-call window cache per worker (0 disables)."),
    workers: int = typer.Option(1, help="Worker processes (each loads the model)."),
    threads: int = typer.Option(0, help="onnxruntime threads per worker (0 = all cores)."),
) -> None:
    """Serve real-time and mid-call scoring over HTTP (BentoML): /v1/score, /v1/score/batch, /readyz, /docs.json."""
    from .service import ServiceConfigError, ServiceSettings, serve

    try:
        settings = ServiceSettings(
            model_dir=str(model),
            policy_path=str(policy) if policy else "",
            audit_path=audit,
            audit_max_bytes=int(audit_max_mb * (1 << 20)),
            audit_backups=audit_backups,
            auth_token_env=auth_token_env or "CONVO_OUTCOMES_API_TOKEN",
            auth_required=auth_token_env is not None,
            max_body_bytes=max_body_kb * 1024,
            max_batch=max_batch,
            max_concurrency=max_concurrency,
            timeout_s=timeout,
            cache_bytes=int(cache_mb * (1 << 20)),
            workers=workers,
            threads=threads,
        )
        serve(settings, host=host, port=port)
    except ServiceConfigError as e:
        _fail(str(e))


if __name__ == "__main__":  # pragma: no cover
    app()

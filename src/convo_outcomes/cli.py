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
models_app = typer.Typer(no_args_is_help=True, help="Model versions under the models root: list, promote, rollback, push to BentoML.")
app.add_typer(models_app, name="models")


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
    industries: Optional[str] = typer.Option(
        None, "--industries", help="Comma-separated industries to draw from (retail, telecom, travel_mobility, banking, utilities, subscription_software, food_and_drink, insurance, media_entertainment); 'all' for every one; default the first six."
    ),
    wide_requests: Optional[float] = typer.Option(
        None, "--wide-requests", help="Share of opening requests worded from a cross-industry lexicon ('purchase', 'sign up for', 'proof of ...'); default 0."
    ),
) -> None:
    """Generate story-driven contact-center conversations with labels that follow from what happens."""
    from .synth import ALL_INDUSTRIES, SynthConfig, generate

    overrides: dict = {k: v for k, v in {"long_share": long_share, "label_noise": label_noise, "wide_requests": wide_requests}.items() if v is not None}
    if industries is not None:
        overrides["industries"] = ALL_INDUSTRIES if industries.strip() == "all" else tuple(x.strip() for x in industries.split(",") if x.strip())
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
    cache_dir: Optional[Path] = typer.Option(
        None, "--cache-dir", help="Where frozen_lr keeps its embeddings between runs (default: $XDG_CACHE_HOME or ~/.cache, /convo-outcomes/frozen_lr)."
    ),
    no_cache: bool = typer.Option(False, "--no-cache", help="Embed everything again and keep nothing."),
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
        if cache_dir is None and not no_cache:
            cache_dir = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "convo-outcomes" / "frozen_lr"
    try:
        report = evaluate_model(
            model,
            data,
            split=split,
            baselines=baselines,
            train_data=train_data,
            encoder_dir=encoder_dir,
            heldout_data=heldout,
            baseline_cache=None if no_cache else cache_dir,
        )
    except (DataError, ValueError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(format_report(report, title=f"{model} on {', '.join(map(str, data))} (split: {split}) + {', '.join(map(str, heldout)) or 'nothing else'}"))
    if report.get("baselines"):
        typer.echo("")
        typer.echo(compare_table({"fine-tuned": report, **report["baselines"]}, report.get("vs_baselines")))
    for name, sl in report.get("slices", {}).items():
        accs = ", ".join(f"{h} {m['accuracy']:.3f}" for h, m in sl["heads"].items())
        typer.echo(f"slice {name} (n={sl['n']}): accuracy {accs}")
    for h, ev in report.get("evidence", {}).items():
        typer.echo(f"evidence {h}: decisive turn among the evidence in {ev['hit_rate']:.1%} of {ev['n']}")
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(report, indent=2))


# ------------------------------------------------------------------------------------------ compare


@app.command("compare")
def compare_cmd(
    champion: Path = typer.Option(..., "--champion", help="The current model: an exported model folder."),
    challenger: Path = typer.Option(..., "--challenger", help="The candidate: an exported model folder."),
    data: List[Path] = typer.Option(..., "--data", help="Labelled conversations (JSONL/CSV/Parquet); repeatable."),
    split: str = typer.Option("test", help="test, validation (records both models' splits assign there) or all."),
    gate: Optional[Path] = typer.Option(None, "--gate", help="Gate YAML (e.g. training/gates/default.yaml); decides the exit code."),
    json_out: Optional[Path] = typer.Option(None, "--json", help="Write the full comparison here."),
    bootstrap: int = typer.Option(1000, "--bootstrap", help="Paired bootstrap resamples for the 95% CIs (0: none)."),
    seed: int = typer.Option(0, "--seed", help="Bootstrap seed: same seed, same intervals."),
) -> None:
    """Champion vs challenger: per-head, per-source deltas with bootstrap CIs, calibration, speed; exit 1 when the gate fails."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .compare import CompareError, GateError, compare_models
    from .data import DataError
    from .runtime import ModelLoadError

    try:
        result = compare_models(champion, challenger, data, split=split, gate=gate, resamples=bootstrap, seed=seed)
    except (CompareError, GateError, DataError, ModelLoadError, FileNotFoundError) as e:
        _fail(str(e))
    typer.echo(result.to_text())
    if json_out:
        json_out.parent.mkdir(parents=True, exist_ok=True)
        json_out.write_text(json.dumps(result.to_dict(), indent=2))
    raise typer.Exit(0 if result.passed else 1)


@app.command("export")
def export_cmd(
    checkpoint: Path = typer.Option(..., "--checkpoint", help="Training output folder (runs/NAME/final)."),
    output: Path = typer.Option(..., "--output", help="Model folder to write, e.g. models/default."),
    quantize: str = typer.Option("int8", help="int8 (dynamic, per-channel) or none."),
    validation: List[Path] = typer.Option([], "--validation", help="Labelled data for the int8 metric-change check."),
    split: str = typer.Option("validation", help="Which split of --validation files to use (the model's split)."),
    max_validation: int = typer.Option(2000, help="Cap on validation records for the parity check."),
    keep_fp32: str = typer.Option("none", help="Matmuls left in fp32, comma-separated: 'ffn_output' (each layer's FFN down-projection), 'score' (the heads' attention scores), or 'none'."),
    version: Optional[str] = typer.Option(None, "--version", help="Model version recorded in config.json (default: the checkpoint's, else 0.1.0)."),
    parent: Optional[str] = typer.Option(None, "--parent", help="NAME@VERSION of the model this one was trained from (default: the parent a warm-started checkpoint recorded)."),
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
        kept = () if keep_fp32 == "none" else tuple(k.strip() for k in keep_fp32.split(","))
        if any(k not in ("ffn_output", "score") for k in kept):
            raise ExportError(f"--keep-fp32 must be 'none' or a comma-separated list of 'ffn_output', 'score'; found {keep_fp32!r}")
        result = export_model(
            checkpoint, output, quantize=quantize, validation=val, keep_fp32=kept, version=version, parent=parent
        )
    except ExportError as e:
        _fail(str(e))
    typer.echo(json.dumps(result.parity, indent=2))
    typer.echo(f"exported to {result.output}: " + ", ".join(f"{k} {v / 1e6:.1f} MB" for k, v in sorted(result.files.items())))


@app.command("blend")
def blend_cmd(
    model: Path = typer.Option(..., "--model", help="Exported model folder to blend (not itself blended)."),
    data: List[Path] = typer.Option(..., "--data", help="The model's training files: the prior fits on their train split, the weights are chosen on their validation split."),
    output: Path = typer.Option(..., "--output", help="New model folder to write (must not exist)."),
    version: Optional[str] = typer.Option(None, "--version", help="Version recorded in config.json (default: the model's)."),
    max_features: int = typer.Option(50_000, "--max-features", help="Vocabulary size of the TF-IDF prior (the most frequent 1-2 grams)."),
    head: List[str] = typer.Option([], "--head", help="Heads that may be blended (default: all)."),
    min_long_calls: int = typer.Option(50, "--min-long-calls", help="Validation calls over 2,000 tokens decided at the end needed to blend a head (the long-call guard); 0 turns the guard off, for data without long calls."),
    guard_data: List[Path] = typer.Option([], "--guard-data", help="More labelled calls for the long-call guard only (whole files, none in the training split), e.g. generated long calls from an unused seed."),
) -> None:
    """Blend the model's heads with a lexical prior (TF-IDF + logistic regression, numpy at run time)."""
    import os

    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from .lexical import BlendError, fit_blend

    try:
        result = fit_blend(model, data, output, version=version, max_features=max_features, heads=head or None, min_long_calls=min_long_calls,
                            guard_data=guard_data)
    except (BlendError, FileNotFoundError) as e:
        _fail(str(e))
    for h, entry in result.validation.items():
        curve = entry.get("mean_source_macro_f1")
        at = curve[entry["grid"].index(entry["weight"])] if curve else None
        gain = f"validation mean macro-F1 {curve[0]:.4f} -> {at:.4f}" if curve else entry.get("why", "")
        typer.echo(f"{h}: weight {entry['weight']:.1f}" + (f", temperature {entry['temperature']:.3f}" if "temperature" in entry else "") + f"; {gain}")
    typer.echo(f"wrote {result.output} ({result.features} features, fitted on {result.train_n} records, "
               f"weights chosen on {result.validation_n}, {result.minutes:.1f} min)")


@app.command("card")
def card_cmd(
    model: Path = typer.Argument(..., help="Exported model folder."),
    metrics: Optional[Path] = typer.Option(None, "--metrics", help="An evaluate --json report to include."),
    parent: Optional[Path] = typer.Option(None, "--parent", help="The parent's exported folder: adds 'Changes since the parent'."),
    outside: Optional[Path] = typer.Option(None, "--outside", help="An evaluate --json report on sources the model never trained on: adds 'Sources it never trained on'."),
) -> None:
    """Regenerate a model folder's card (README.md), metrics.json and manifest."""
    from .export import ExportError, write_card

    report = json.loads(metrics.read_text()) if metrics else None
    outside_report = json.loads(outside.read_text()) if outside else None
    try:
        typer.echo(f"wrote {write_card(model, report, parent=parent, outside=outside_report)}")
    except ExportError as e:
        _fail(str(e))


# ------------------------------------------------------------------------------------------- select


@app.command("select")
def select_cmd(
    model: Path = typer.Option(..., "--model", help="Exported model folder."),
    data: List[Path] = typer.Option(..., "--data", help="Unlabelled conversations (JSONL/CSV/Parquet); repeatable."),
    n: int = typer.Option(200, "--n", help="How many conversations to pick."),
    out: Path = typer.Option(..., "--out", help="Picks for a labelling tool: .jsonl (records + selection) or .csv."),
    heads: List[str] = typer.Option([], "--head", help="Heads whose uncertainty counts (repeatable; default: all)."),
    strategy: str = typer.Option("margin", "--strategy", help="margin (1 - (p1 - p2)) or entropy (normalised by log C)."),
    exclude: List[Path] = typer.Option([], "--exclude", help="Records already labelled (JSONL/CSV/Parquet/txt of ids); repeatable."),
    seed: int = typer.Option(0, "--seed", help="Tie-break seed: same inputs and seed, same picks."),
    per_bucket: Optional[int] = typer.Option(None, "--per-bucket", help="Most picks per (driving head, predicted label) before the cap relaxes; default n/4."),
    input_format: Optional[str] = typer.Option(None, "--format", help="jsonl, csv, parquet or text; default: by suffix."),
) -> None:
    """What to label next: the n conversations the model is least sure about, diverse across buckets."""
    from .data import DataError
    from .runtime import ModelLoadError
    from .selection import SelectionError, select

    try:
        result = select(model, data, n, out, heads=heads, strategy=strategy, exclude=exclude, seed=seed, per_bucket=per_bucket, input_format=input_format)
    except (SelectionError, DataError, ModelLoadError) as e:
        _fail(str(e))
    typer.echo(result.to_text())


@app.command("score")
def score_cmd(
    inputs: List[Path] = typer.Argument(..., help="Archives: JSONL/CSV/Parquet files or folders."),
    model: Optional[Path] = typer.Option(None, "--model", help="Model folder, or a model name under the models root; default: the promoted model."),
    output: Path = typer.Option(..., "--output", help="Scores file: .jsonl, .csv or .parquet."),
    rejects: Optional[Path] = typer.Option(None, help="Rejects file (default: next to the output)."),
    resume: bool = typer.Option(False, "--resume", help="Continue an interrupted run: no lost, no duplicated rows."),
    overwrite: bool = typer.Option(False, "--overwrite", help="Start over even if an unfinished run exists."),
    batch_size: int = typer.Option(64, help="Conversations per scoring call."),
    workers: int = typer.Option(0, help="Worker processes (each one onnxruntime thread); 0 = in process. Ray: actors (0 = cluster CPUs - 1)."),
    threads: Optional[int] = typer.Option(None, help="onnxruntime threads in process (default: all cores). Ray: per actor (default: cluster CPUs // actors)."),
    input_format: Optional[str] = typer.Option(None, "--format", help="jsonl, csv, parquet or text; default: by suffix."),
    engine: str = typer.Option("local", help="local (this machine) or ray (a Ray cluster; Parquet output only)."),
    address: Optional[str] = typer.Option(None, "--address", help="Ray cluster address (ray engine); default: $RAY_ADDRESS, else a local cluster."),
    batch_windows: bool = typer.Option(
        False, "--batch-windows", help="Encode windows of different conversations in shared calls (larger matmuls; not faster on 2 AVX2 cores): int8 scores then depend on batch mates."
    ),
) -> None:
    """Score archives: one row per conversation with labels, probabilities, confidence and evidence."""
    from .batch import ScoreError, score_archive
    from .data import DataError
    from .registry import RegistryError, resolve_model
    from .runtime import ModelLoadError

    try:
        model = resolve_model(model)
    except RegistryError as e:
        _fail(str(e))
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
                inputs, model, output, rejects=rejects, resume=resume, overwrite=overwrite, batch_size=batch_size, actors=workers, threads=threads or 0, input_format=input_format, address=address,
                batch_windows=batch_windows,
            )
        else:
            summary = score_archive(
                inputs, model, output, rejects=rejects, resume=resume, overwrite=overwrite, batch_size=batch_size, workers=workers, threads=threads, input_format=input_format,
                batch_windows=batch_windows,
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
    model: Optional[Path] = typer.Option(
        None, "--model", help="Model folder or name under the models root; default: the promoted model, followed when promotion changes."
    ),
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
    batch_windows: bool = typer.Option(False, "--batch-windows", help="Encode windows in shared calls (larger matmuls; not faster on 2 AVX2 cores): scores then depend on batch mates and cache history."),
) -> None:
    """Serve real-time and mid-call scoring over HTTP (BentoML): /v1/score, /v1/score/batch, /readyz, /docs.json."""
    from .registry import RegistryError, models_root, resolve_model
    from .service import ServiceConfigError, ServiceSettings, serve

    try:
        settings = ServiceSettings(
            model_dir=str(resolve_model(model)) if model is not None else "",  # "": the promoted model, followed
            models_root=str(models_root()),
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
            batch_windows=batch_windows,
        )
        serve(settings, host=host, port=port)
    except (ServiceConfigError, RegistryError) as e:
        _fail(str(e))


# ------------------------------------------------------------------------------------------- models


@models_app.command("list")
def models_list(
    root: Optional[Path] = typer.Option(None, "--root", help="Models root (default: $CONVO_OUTCOMES_MODELS_ROOT, else models)."),
    json_out: bool = typer.Option(False, "--json", help="Print JSON instead of a table."),
) -> None:
    """Every model folder under the root with version, parent, data hash, heads and size; * marks the promoted one."""
    from .registry import Registry, RegistryError

    try:
        reg = Registry(root)
        infos = reg.list()
    except RegistryError as e:
        _fail(str(e))
    if json_out:
        typer.echo(json.dumps({"root": str(reg.root), "models": [i.to_dict() for i in infos]}, indent=2))
        return
    if not infos:
        typer.echo(f"no model folders under {reg.root}")
        return
    rows = [("", "name", "version", "parent", "data", "exported", "heads", "MB")]
    for i in infos:
        rows.append(
            ("*" if i.promoted else "", i.name, i.version or "-", i.parent or "-", (i.data_hash or "-")[:12], i.exported_at or "-", str(len(i.heads)), f"{i.size_bytes / 1e6:.1f}")
        )
    widths = [max(len(r[c]) for r in rows) for c in range(len(rows[0]))]
    for r in rows:
        typer.echo("  ".join(v.ljust(w) for v, w in zip(r, widths)).rstrip())
    typer.echo(f"root {reg.root}; heads: " + "; ".join(f"{i.name}: {', '.join(i.heads)}" for i in infos))


@models_app.command("promote")
def models_promote(
    name: str = typer.Argument(..., help="Model folder name under the root."),
    root: Optional[Path] = typer.Option(None, "--root", help="Models root (default: $CONVO_OUTCOMES_MODELS_ROOT, else models)."),
) -> None:
    """Make NAME the model the scorer and the service use, once its files verify and it loads."""
    from .registry import RegistryError, promote

    try:
        entry = promote(name, root)
    except RegistryError as e:
        _fail(str(e))
    if entry is None:
        typer.echo(f"{name} is already the promoted model; nothing changed")
    else:
        typer.echo(f"promoted {entry['name']} ({entry['version']}); previous: {entry['previous'] or 'none'}")


@models_app.command("rollback")
def models_rollback(
    root: Optional[Path] = typer.Option(None, "--root", help="Models root (default: $CONVO_OUTCOMES_MODELS_ROOT, else models)."),
) -> None:
    """Return to the model promoted before the current one."""
    from .registry import RegistryError, rollback

    try:
        entry = rollback(root)
    except RegistryError as e:
        _fail(str(e))
    typer.echo(f"rolled back to {entry['name']} ({entry['version']}); previous: {entry['previous']}")


@models_app.command("push")
def models_push(
    name: str = typer.Argument(..., help="Model folder name under the root."),
    bento_name: Optional[str] = typer.Option(None, "--bento-name", help="Name in the BentoML model store (default: convo-outcomes-NAME)."),
    root: Optional[Path] = typer.Option(None, "--root", help="Models root (default: $CONVO_OUTCOMES_MODELS_ROOT, else models)."),
) -> None:
    """Copy a model folder into the BentoML model store ($BENTOML_HOME); prints the tag."""
    from .registry import RegistryError, push

    try:
        tag = push(name, root, bento_name)
    except RegistryError as e:
        _fail(str(e))
    typer.echo(f"pushed {name} to the BentoML model store: {tag}")


if __name__ == "__main__":  # pragma: no cover
    app()

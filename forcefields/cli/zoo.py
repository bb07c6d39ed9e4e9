"""`forcefields pretrained | info | pull | push`: the pretrained zoo from the shell."""

from __future__ import annotations

import argparse

__all__ = ["register"]


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser("pretrained", help="list pretrained models (name, data, parameters, metrics, size)")
    p.set_defaults(func=_pretrained)

    p = subparsers.add_parser("info", help="show a pretrained model's card and metrics")
    p.add_argument("name", help="pretrained name, e.g. egnn-m.rmd17-aspirin, or a checkpoint folder")
    p.add_argument("--download", action="store_true", help="fetch it from the Hub when it is not local")
    p.set_defaults(func=_info)

    p = subparsers.add_parser("pull", help="download a pretrained model from the Hub into the local cache")
    p.add_argument("name", help="pretrained name")
    p.add_argument("--repo", default=None, help="Hub repo id (default: the index's, or FORCEFIELDS_HUB_ORG/NAME)")
    p.add_argument("--revision", default=None, help="branch, tag or commit (default: the one the index pins)")
    p.set_defaults(func=_pull)

    p = subparsers.add_parser("push", help="upload a checkpoint (or a corpus, as a dataset) to a Hub repo")
    p.add_argument("name", help="pretrained name, checkpoint folder, or corpus folder (pushed as a Hub dataset)")
    p.add_argument("--repo", default=None, help="Hub repo id org/name (default: the index's, or FORCEFIELDS_HUB_ORG/NAME)")
    p.add_argument("--revision", default=None, help="branch to commit to (default main)")
    p.add_argument("--private", action="store_true", help="create the repo private")
    p.add_argument("--token", default=None, help="Hub token (default: HF_TOKEN or the saved login)")
    p.set_defaults(func=_push)


def _metric(metrics: dict, key: str) -> str:
    v = metrics.get(key)
    return f"{v:.3g}" if isinstance(v, (int, float)) and not isinstance(v, bool) else "-"


def _pretrained(args: argparse.Namespace) -> int:
    from ..console import make_console
    from rich.table import Table

    from ..zoo import list_pretrained

    entries = list_pretrained()
    console = make_console()
    if not entries:
        console.print("No pretrained models are shipped or cached yet (checkpoints/index.json is empty).")
        return 0
    table = Table(title="Pretrained force fields (test MAE: forces meV/Å, energies meV)")
    table.add_column("name", no_wrap=True)
    table.add_column("data")
    table.add_column("params", justify="right")
    table.add_column("force MAE", justify="right")
    table.add_column("energy MAE", justify="right")
    table.add_column("size", justify="right")
    table.add_column("where")
    for e in entries:
        table.add_row(
            e.name, e.data or "-", f"{e.num_parameters:,}", _metric(e.metrics, "force_mae"),
            _metric(e.metrics, "energy_mae"), f"{e.size_bytes / 1e6:.1f} MB", e.source,
        )
    console.print(table)
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..console import make_console
    from rich.markdown import Markdown

    from ..zoo import pretrained_info
    from ..zoo.card import metric_unit

    info = pretrained_info(args.name, download=args.download)
    console = make_console()
    e = info.entry
    console.print(f"[bold]{info.name}[/bold]  {e.family} · {e.num_parameters:,} parameters · "
                  f"cutoff {e.cutoff} Å · {e.dtype} · {e.size_bytes / 1e6:.2f} MB · {e.source}")
    if info.path is not None:
        console.print(f"folder: {info.path}")
    metrics = (info.config or {}).get("metrics") or e.metrics
    for k, v in metrics.items():
        unit = metric_unit(k) if isinstance(v, (int, float)) else ""
        console.print(f"  {k}: {v} {unit}".rstrip())
    if info.card:
        body = info.card.split("\n---\n", 1)[-1] if info.card.startswith("---\n") else info.card
        console.print(Markdown(body))
    else:
        console.print("The model card is not local; `forcefields pull " + info.name + "` downloads it.")
    return 0


def _pull(args: argparse.Namespace) -> int:
    from ..zoo import pull

    path = pull(args.name, repo_id=args.repo, revision=args.revision)
    print(f"pulled {args.name} into {path}")
    return 0


def _push(args: argparse.Namespace) -> int:
    from ..data.corpus import is_corpus
    from ..zoo import push

    if is_corpus(args.name):
        from ..data.corpus_hub import push_corpus

        if not args.repo:
            raise ValueError(f"{args.name} is a corpus; name the Hub dataset repo to push it to with --repo org/name.")
        result = push_corpus(args.name, args.repo, revision=args.revision, private=args.private, token=args.token)
        print(f"pushed the corpus to the dataset {result.repo_id} ({result.revision}): {result.url}")
        return 0

    result = push(args.name, repo_id=args.repo, revision=args.revision, private=args.private, token=args.token)
    print(f"pushed to {result.repo_id} ({result.revision}): {result.url}")
    if result.commit:
        print(f"pin it in checkpoints/index.json: \"hub_repo\": \"{result.repo_id}\", \"revision\": \"{result.commit}\"")
    return 0

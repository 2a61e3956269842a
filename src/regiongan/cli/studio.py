"""``regiongan studio``: the local web app for region-level editing (``regiongan.studio``; docs/studio.md)."""

from __future__ import annotations

import click

from .common import CommandError


@click.command("studio")
@click.option("--model", "-m", default="faces-64", show_default=True, help="The model a new session starts with (shipped name or path).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on; anything but loopback prints a warning.")
@click.option("--port", default=7860, show_default=True, type=click.IntRange(1, 65535), help="Port to listen on.")
@click.option("--uploads", default="out/studio/uploads", show_default=True, help="Folder for what the browser uploads (the only one it reads besides --out).")
@click.option("--out", "-o", default="out/studio", show_default=True, help="Folder for exports (PNG + recipe).")
@click.option("--seed", default=0, show_default=True, type=click.IntRange(0), help="The first image's seed.")
def studio(model, host, port, uploads, out, seed) -> None:
    """Open the studio: paint regions, run every registered method, stack edits, export recipes.

    \b
    Example:
      regiongan studio                         # then open http://127.0.0.1:7860
    Needs the studio extra: pip install -e ".[studio]".
    """
    from ..studio.security import StudioFolders, bind_warning

    folders = StudioFolders.create(uploads, out)
    try:
        from ..studio.app import StudioConfig, build_app, launch_kwargs, prepare_environment
    except ImportError as e:
        raise CommandError(f"the studio needs gradio ({e.name} is missing): pip install -e \".[studio]\"") from None
    warning = bind_warning(host)
    if warning:
        click.echo(warning, err=True)
    prepare_environment(folders)
    app = build_app(StudioConfig(model=model, folders=folders, seed=seed))
    click.echo(f"regiongan studio on http://{host}:{port} (uploads: {folders.uploads}, exports: {folders.output})", err=True)
    app.queue(default_concurrency_limit=8).launch(**launch_kwargs(host, port, folders))

"""``sagehealth chat``: multi-turn chat with memory per thread, each turn routed to a clinical task.

Examples::

    sagehealth chat                                   # interactive: /trace, /thread ID, /help, /exit
    sagehealth chat --message "Draft an impression: heart enlarged, small left effusion" --thread t1
    sagehealth chat --message "and which drugs interact with warfarin?" --thread t1 --json
"""

from __future__ import annotations

import typer

from app.common import JsonOpt, PurposeOpt, RoleOpt, UserOpt, console, emit, fail, open_resources, who
from core.errors import SageError


def register(app: typer.Typer) -> None:
    """Add ``chat``."""

    @app.command("chat")
    def chat_cmd(
        message: str | None = typer.Option(None, "--message", help="Send one message and exit (otherwise interactive)."),
        thread: str | None = typer.Option(None, "--thread", help="Conversation thread (memory); new if omitted."),
        user: str | None = UserOpt,
        role: str | None = RoleOpt,
        purpose: str = PurposeOpt,
        as_json: bool = JsonOpt,
    ) -> None:
        """Chat with the clinical agents; answers stream as they are written.

        Interactive without --message: /trace shows the last turn's decisions, /thread ID
        switches threads, /help lists the commands, arrow keys recall this session's lines.
        """
        from app.chat_repl import ChatLoop, new_thread
        from app.tracetree import build_tree, render_tree
        from services.chat import ChatRequest, turn
        from services.runs import trace

        resources = open_resources()
        person = who(resources, user, role, purpose)

        def send(thread_id: str, text: str) -> str | None:
            stream = None if as_json else (lambda chunk: console.print(chunk, end="", markup=False, highlight=False))
            try:
                reply = turn(resources, person, ChatRequest(thread_id=thread_id, message=text), on_delta=stream)
            except SageError as exc:
                fail(exc, as_json)
                return None
            if as_json:
                emit(reply, True)
            else:
                if reply.status != "done":
                    console.print(reply.text, markup=False)
                console.print(f"\n[dim]thread {reply.thread_id} · task {reply.task} · run {reply.run_id} · {reply.status}[/]")
            return reply.run_id

        def show_trace(run_id: str) -> None:
            try:
                console.print(render_tree(run_id, build_tree(trace(resources, person, run_id))))
            except SageError as exc:
                console.print(f"[red]{exc.message}[/]")

        if message is not None:
            send(thread or new_thread(), message)
            return
        ChatLoop(console, send, show_trace, thread or new_thread()).run()

"""``sagehealth chat``: multi-turn chat with memory per thread, each turn routed to a clinical task.

Examples::

    sagehealth chat                                   # interactive; /exit to quit
    sagehealth chat --message "Draft an impression: heart enlarged, small left effusion" --thread t1
    sagehealth chat --message "and which drugs interact with warfarin?" --thread t1 --json
"""

from __future__ import annotations

import uuid

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
        """Chat with the clinical agents; answers stream as they are written."""
        from services.chat import ChatRequest, turn

        resources = open_resources()
        person = who(resources, user, role, purpose)
        thread_id = thread or f"chat-{uuid.uuid4().hex[:10]}"

        def send(text: str) -> None:
            stream = None if as_json else (lambda chunk: console.print(chunk, end="", markup=False, highlight=False))
            try:
                reply = turn(resources, person, ChatRequest(thread_id=thread_id, message=text), on_delta=stream)
            except SageError as exc:
                fail(exc, as_json)
                return
            if as_json:
                emit(reply, True)
            else:
                if reply.status != "done":
                    console.print(reply.text, markup=False)
                console.print(f"\n[dim]thread {reply.thread_id} · task {reply.task} · run {reply.run_id} · {reply.status}[/]")

        if message is not None:
            send(message)
            return
        console.print(f"[bold]sagehealth chat[/] (thread {thread_id}; /exit to quit)")
        while True:
            try:
                text = console.input("[bold cyan]you>[/] ").strip()
            except (EOFError, KeyboardInterrupt):
                break
            if text in ("/exit", "/quit"):
                break
            if text:
                send(text)

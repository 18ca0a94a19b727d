"""The interactive loop of ``sagehealth chat``: streamed turns, line history, and slash commands.

Commands (anything else is a message to the agents)::

    /trace           the last turn's decisions: agents, tool calls, policy effects, timings
    /thread          which thread this is;  /thread ID  switch to (or start) thread ID;  /thread new
    /help            this list
    /exit, /quit     leave (Ctrl-D too)

Line history (arrow keys, Ctrl-R) lasts for the session only: what a clinician typed may hold
PHI, so it is never written to a history file. A slash command never reaches the agents, so
``/trace`` costs no run and leaves no turn in the thread.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

from rich.console import Console

HELP = ("/trace  the last turn's decisions  ·  /thread [ID|new]  show or switch the thread  ·  "
        "/help  this list  ·  /exit  leave")


def new_thread() -> str:
    """A fresh thread id."""
    return f"chat-{uuid.uuid4().hex[:10]}"


def _line_editing() -> None:
    """Arrow-key editing and recall of this session's lines, where the terminal has readline."""
    try:
        import readline  # noqa: F401 - importing it is what gives input() history
    except ImportError:  # not on every platform; the loop works without it
        return


class ChatLoop:
    """One REPL session: the current thread and the last turn's run, and what each command does.

    Args:
        console: Where everything is printed.
        send: Sends one message on a thread; returns the turn's run id (None when it failed).
        show_trace: Prints the trace of one run id.
        thread_id: The thread to start on.
    """

    def __init__(self, console: Console, send: Callable[[str, str], str | None], show_trace: Callable[[str], None], thread_id: str) -> None:
        self.console = console
        self.send = send
        self.show_trace = show_trace
        self.thread_id = thread_id
        self.last_run: str | None = None

    def handle(self, text: str) -> bool:
        """Act on one input line; False when the session should end."""
        if not text:
            return True
        if not text.startswith("/"):
            self.last_run = self.send(self.thread_id, text) or self.last_run
            return True
        command, _, arg = text[1:].partition(" ")
        command, arg = command.lower(), arg.strip()
        if command in ("exit", "quit"):
            return False
        if command == "help":
            self.console.print(HELP, markup=False)
        elif command == "thread":
            self._thread(arg)
        elif command == "trace":
            if self.last_run is None:
                self.console.print("no turn on this thread in this session yet: send a message first")
            else:
                self.show_trace(self.last_run)
        else:
            self.console.print(f"unknown command /{command}: {HELP}", markup=False)
        return True

    def _thread(self, arg: str) -> None:
        if arg:
            self.thread_id = new_thread() if arg == "new" else arg
            self.last_run = None
            self.console.print(f"now on thread {self.thread_id}", markup=False)
        else:
            self.console.print(f"thread {self.thread_id}", markup=False)

    def run(self, read: Callable[[], Any] | None = None) -> None:
        """Read lines until /exit, end of input or Ctrl-C."""
        _line_editing()
        self.console.print(f"[bold]sagehealth chat[/] (thread {self.thread_id}; /help for commands, /exit to quit)")
        read = read or (lambda: self.console.input("[bold cyan]you>[/] "))
        while True:
            try:
                text = str(read()).strip()
            except (EOFError, KeyboardInterrupt):
                break
            if not self.handle(text):
                break

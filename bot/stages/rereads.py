"""Answering the implementer's re-read of a file its first message already shows, unchanged.

A whole-file ``read_file`` of a preloaded file costs a turn and puts the file in the history a
second time, re-sent on every later turn.  While the file is unchanged in the workspace and
the first message (as it is sent now, after any history trimming) still holds its preloaded
copy, the call gets a one-line note instead (``bot.core.preload.unchanged_reread``).
"""

from __future__ import annotations

from collections.abc import Sequence

from bot.core.implementer_tools import ToolExecutor
from bot.core.preload import PreloadChoice, unchanged_reread, whole_file_read
from bot.core.workspace import Workspace
from bot.models.port import Message, ToolCall


class PreloadedRereads:
    def __init__(self, choice: PreloadChoice, workspace: Workspace, first_message: str) -> None:
        self._preloaded = {file.path: file for file in choice.files}
        self._reader = ToolExecutor(workspace)  # its own executor: this look is not a model's call
        self._first_message = first_message

    def track(self, messages: Sequence[Message]) -> Sequence[Message]:
        """Follow the history the loop re-sends (used as, or after, the loop's ``compact``)."""
        self._first_message = messages[0].text if messages else ""
        return messages

    def note(self, call: ToolCall) -> str | None:
        """The short answer to ``call``, or None when it must be run as usual."""
        if call.name != "read_file" or call.parse_error:
            return None
        path = whole_file_read(call.arguments)
        file = self._preloaded.get(path) if path is not None else None
        if file is None:
            return None
        now = self._reader.run("read_file", {"path": path})
        return unchanged_reread(file, shown_now=None if now.is_error else now.content,
                                first_message=self._first_message)

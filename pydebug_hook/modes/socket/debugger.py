"""pdb served to the socket's client: a client that goes away detaches (the next one gets
the same frame), ``q`` and ``c`` end the session, ``interact`` and completion work over
the channel."""

import code
import pdb
import sys

from ...core import notice, pdb_policy
from .endpoint import ATTACHED, INTERRUPTED, TIMEOUT, WOKEN, Endpoint

TYPE_CHECKING = False  # no typing import at run time: annotations are strings
if TYPE_CHECKING:
    from typing import Any, Dict, List, Optional


class _ChannelConsole(code.InteractiveConsole):
    """``interact`` on the channel: code.interact() would read the program's stdin."""

    def __init__(self, namespace: "Dict[str, Any]", debugger: "SocketPdb") -> None:
        super().__init__(namespace)
        self.debugger = debugger

    def raw_input(self, prompt: str = "") -> str:
        channel = self.debugger.stdout
        channel.write(prompt)
        line = self.debugger.stdin.readline()
        if not line:
            raise EOFError
        return line.rstrip("\r\n")

    def write(self, data: str) -> None:
        self.debugger.stdout.write(data)

    def runcode(self, code_object: "Any") -> None:
        # As pdb does for `!statement`: the code's own prints go to the client.
        saved = sys.stdin, sys.stdout, sys.displayhook
        try:
            sys.stdin, sys.stdout = self.debugger.stdin, self.debugger.stdout
            sys.displayhook = sys.__displayhook__
            super().runcode(code_object)
        finally:
            sys.stdin, sys.stdout, sys.displayhook = saved


class SocketPdb(pdb.Pdb):
    """pdb on an endpoint's channel.  A client that leaves is not the end: pdb reads end
    of input, and ``do_EOF`` waits for the next client instead of quitting.  A post-mortem
    ends as every mode's does (core/pdb_policy.py); a live breakpoint as pdb's: ``c``
    runs on (the socket closes unless breakpoints remain), ``q`` raises ``BdbQuit``."""

    def __init__(self, endpoint: Endpoint) -> None:
        channel = endpoint.channel
        super().__init__(stdin=channel, stdout=channel, nosigint=True, skip=pdb_policy.SKIP)
        self.endpoint = endpoint
        self.live = endpoint.session.is_breakpoint
        self.outcome: Optional[str] = None
        if not self.live:
            pdb_policy.post_mortem(self)
        channel.completer = self.remote_complete
        channel.detach_prompts = {self.prompt}

    @property
    def on_socket(self) -> bool:
        return self.stdin is self.endpoint.channel

    # -- the end of a session -------------------------------------------------------------

    def do_quit(self, arg: str) -> "Optional[bool]":
        self.outcome = "quit"
        if self.live:
            self._user_requested_quit = True
            self.set_quit()
            self.endpoint.finish("quit: the program stops with bdb.BdbQuit")
        else:
            self.endpoint.finish("session ended; the program goes on as it would have without the debugger")
        return True

    do_q = do_exit = do_quit

    def do_continue(self, arg: str) -> "Optional[bool]":
        if not self.live:
            self.outcome = "continue"
            self.endpoint.finish("session ended; the program goes on as it would have without the debugger")
            return True
        stop = pdb.Pdb.do_continue(self, arg)
        if stop and not self.breaks:
            self.outcome = "continue"
            self.endpoint.finish("continuing; session closed")
        elif stop:
            self.message("pydebug_hook: continuing; the session stays open for the breakpoints that are set")
        return stop

    do_c = do_cont = do_continue

    def do_run(self, arg: str) -> None:
        self.error("restart is not available in a pydebug_hook session")

    do_restart = do_run

    def do_EOF(self, arg: str) -> "Optional[bool]":
        if not self.on_socket:  # handed to the terminal: EOF there is pdb's EOF
            return pdb.Pdb.do_EOF(self, arg)
        self.endpoint.detached()
        result = self.endpoint.wait_for_client()
        if result != ATTACHED:
            return self._end(result)
        self.endpoint.greet()
        if self.stack:
            self.print_stack_entry(self.stack[self.curindex])
        return None

    def cmdloop(self, intro: "Optional[str]" = None) -> None:
        # Ctrl-C on the program's own terminal (SIGINT in the main thread) while the
        # prompt waits: end the session.  (A command that is running when it comes
        # gets pdb's usual "*** KeyboardInterrupt" and the session goes on.)
        try:
            super().cmdloop(intro)
        except KeyboardInterrupt:
            if not self.on_socket:
                raise
            self._end(INTERRUPTED)

    def _end(self, how: str) -> "Optional[bool]":
        if how == WOKEN and self.live:
            # The program's terminal was granted while nobody was attached: the live
            # session cannot return to its caller, so it goes on there, as plain pdb.
            self.endpoint.close()
            self.stdin, self.stdout = sys.stdin, sys.stdout
            self.use_rawinput = True  # input(): line editing on the terminal
            notice.say("debug session moves to this terminal")
            if self.stack:
                self.print_stack_entry(self.stack[self.curindex])
            return None
        self.outcome = how
        if how == TIMEOUT:
            notice.say(f"no debugger came back within {notice.duration(self.endpoint.timeout)} on {self.endpoint.path}; going on")
        elif how == INTERRUPTED:
            notice.say("interrupted (Ctrl-C): debug session ended")
        self.endpoint.close()
        if self.live:
            if how == INTERRUPTED:
                self._user_requested_quit = True
                self.set_quit()
            else:
                # Nobody is there to serve the breakpoints: run on without the debugger.
                self.clear_all_breaks()
                self.set_continue()
        return True

    # -- what a socket cannot do as a terminal would --------------------------------------

    def do_interact(self, arg: str) -> None:
        if not self.on_socket or self.curframe is None:
            return pdb.Pdb.do_interact(self, arg)
        namespace = {**self.curframe.f_globals, **getattr(self, "curframe_locals", self.curframe.f_locals)}
        _ChannelConsole(namespace, self).interact(banner="*interactive*", exitmsg="*exit from interact*")

    def remote_complete(self, text: str, line: str, begidx: int, endidx: int) -> "List[str]":
        """cmd.Cmd.complete without the readline module (the client has it): pdb
        commands and names of the debugged frame."""
        stripped = len(line) - len(line.lstrip())
        line = line.lstrip()
        begidx, endidx = begidx - stripped, endidx - stripped
        found: List[str] = []
        if begidx > 0:
            command = self.parseline(line)[0]
            complete = getattr(self, "complete_" + command, None) if command else None
            found += (complete or self._complete_expression)(text, line, begidx, endidx) or []
        else:
            found += self.completenames(text, line, begidx, endidx) or []
            found += self._complete_expression(text, line, begidx, endidx) or []
        unique = sorted({str(item) for item in found if str(item).startswith(text)})
        return unique[:1000]

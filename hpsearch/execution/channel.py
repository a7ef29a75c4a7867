"""The epoch-report channel: workers send each epoch's validation value to the driver and
wait for its answer, stop or go on (a socket served by a thread in the driver: loky and Dask alike)."""

from __future__ import annotations

import os
import socket
import threading
import warnings
from multiprocessing import AuthenticationError
from multiprocessing.connection import Client, Listener
from typing import Callable

Handler = Callable[[tuple, int, float], bool]


class DirectChannel:
    def __init__(self, handler: Handler):
        self.report = handler


class SocketChannel:
    """The worker side: send (key, epoch, value), wait for stop/continue.

    Picklable (an address and a key); each worker process keeps one connection.
    If the driver is gone the trial just goes on.
    """

    _connections: dict = {}

    def __init__(self, address: tuple[str, int], authkey: bytes):
        self.address = address
        self.authkey = authkey

    def report(self, key: tuple, epoch: int, value: float) -> bool:
        where = (self.address, self.authkey)
        try:
            connection = self._connections.get(where)
            if connection is None:
                connection = self._connections[where] = Client(self.address, authkey=self.authkey)
            connection.send((key, epoch, value))
            return bool(connection.recv())
        except (OSError, EOFError, AuthenticationError):
            self._connections.pop(where, None)
            return False


class ChannelServer:
    """The driver side: a listening socket; a thread per worker connection calls the handler."""

    def __init__(self, handler: Handler, host: str):
        authkey = os.urandom(32)
        self.handler = handler
        self.closed = False
        self.connections: list = []
        self.listener = Listener((host, 0), authkey=authkey)
        self.address = SocketChannel(self.listener.address, authkey)
        threading.Thread(target=self._accept, daemon=True, name="hpsearch-epoch-channel").start()

    def _accept(self) -> None:
        while True:
            try:
                connection = self.listener.accept()
            except (OSError, EOFError, AuthenticationError):  # a client that failed to authenticate
                if self.closed:
                    return
                continue
            if self.closed:
                connection.close()
                return
            self.connections.append(connection)
            threading.Thread(target=self._serve, args=(connection,), daemon=True).start()

    def _serve(self, connection) -> None:
        with connection:
            while True:
                try:
                    key, epoch, value = connection.recv()
                    connection.send(self._answer(tuple(key), epoch, value))
                except (OSError, EOFError, TypeError):  # TypeError: closed under recv by close()
                    return

    def _answer(self, key: tuple, epoch: int, value: float) -> bool:
        """The handler's answer; a handler that raises must not leave a worker waiting."""
        try:
            return bool(self.handler(key, epoch, value))
        except Exception as exc:
            warnings.warn(f"epoch report of trial {key} not handled, the trial goes on: "
                          f"{type(exc).__name__}: {exc}", RuntimeWarning, stacklevel=1)
            return False

    def close(self) -> None:
        self.closed = True
        try:
            socket.create_connection(self.listener.address, timeout=1).close()  # wake accept()
        except OSError:
            pass
        self.listener.close()
        for connection in self.connections:  # a worker still reporting hears nothing more
            connection.close()

"""`migration_XXX_name.py`: one Migration subclass, or module-level `async def up(db)`, imported fresh."""

from __future__ import annotations

import inspect
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

from ..errors import SourceError
from ..model import Connection, Migration, version_problem
from .file_migration import FileMigration


class PythonFileMigration(FileMigration):
    """`migration_XXX_name.py`: one Migration subclass, or module-level `async def up(db)`."""

    kind = "python"

    def _load(self) -> None:
        # Under `nbmigrate.`, so a migration's `logging.getLogger(__name__)` lines show with -v.
        module = _import(self.path, f"nbmigrate.migrations.{self.path.stem}", self.read())
        classes = [
            obj
            for obj in vars(module).values()
            if inspect.isclass(obj)
            and issubclass(obj, Migration)
            and obj.__module__ == module.__name__
            and not issubclass(obj, FileMigration)
        ]
        if len(classes) > 1:
            names = ", ".join(c.__name__ for c in classes)
            raise SourceError(self.path, f"defines {len(classes)} Migration classes ({names}); one per file")
        if classes:
            self.target = self._from_class(classes[0])
        elif hasattr(module, "up"):
            self.target = self._from_functions(module)
        else:
            raise SourceError(
                self.path, "no migration found: define a Migration subclass or `async def up(db)`"
            )
        self.transactional = bool(getattr(self.target, "transactional", True))

    def _from_class(self, cls: type[Migration]) -> Migration:
        check_methods(cls, self.path)
        try:
            obj = cls()
        except Exception as exc:
            raise SourceError(self.path, f"{cls.__name__}() failed: {type(exc).__name__}: {exc}") from None
        declared = str(obj.version or "")
        if declared and (version_problem(declared) is not None or int(declared) != int(self.version)):
            raise SourceError(
                self.path,
                f"{cls.__name__} declares version {declared!r} but the file name says {self.version}",
            )
        self.description = obj.description or (inspect.getdoc(cls) or "").strip()
        return obj

    def _from_functions(self, module: ModuleType) -> Any:
        _check_callable(getattr(module, "up", None), "up", self.path, required=True)
        _check_callable(getattr(module, "down", None), "down", self.path, required=False)
        self.description = (inspect.getdoc(module) or "").strip()
        return module

    @property
    def reversible(self) -> bool:
        self.load()
        if isinstance(self.target, Migration):
            return self.target.reversible
        return getattr(self.target, "down", None) is not None

    async def up(self, db: Connection) -> None:
        self.load()
        await self.target.up(db)

    async def down(self, db: Connection) -> None:
        self.load()
        await self.target.down(db)


def _import(path: Path, module_name: str, source: bytes) -> ModuleType:
    # Compiled from source every time, never from __pycache__: a notebook may rewrite a
    # file twice within one second, and a size-and-mtime check would run stale code.
    module = ModuleType(module_name)
    module.__file__ = str(path)
    module.__package__ = ""  # no parent: `from . import x` fails with a hint, not a wrong lookup
    sys.modules[module_name] = module
    try:
        code = compile(source, str(path), "exec", dont_inherit=True)
        exec(code, module.__dict__)
    except SyntaxError as exc:
        sys.modules.pop(module_name, None)
        raise SourceError(path, f"syntax error at line {exc.lineno}: {exc.msg}") from None
    except ImportError as exc:
        sys.modules.pop(module_name, None)
        hint = ""
        if "relative import" in str(exc) or "no known parent" in str(exc):
            hint = " (import the base class with `from nbmigrate import Migration`)"
        raise SourceError(path, f"import failed: {exc}{hint}") from None
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # SystemExit, GeneratorExit ...: whatever a module raises
        sys.modules.pop(module_name, None)
        line = _error_line(exc, path)
        raise SourceError(path, f"raised {type(exc).__name__} while importing{line}: {exc}") from None
    return module


def check_methods(cls: type[Migration], where: Path | str) -> None:
    if cls.up is Migration.up:
        raise SourceError(where, f"{cls.__name__} has no `async def up(self, db)`")
    _check_callable(cls.up, "up", where, required=True)
    if cls.down is not Migration.down:
        _check_callable(cls.down, "down", where, required=False)


def _check_callable(fn: Any, label: str, where: Path | str, *, required: bool) -> None:
    if fn is None:
        if required:
            raise SourceError(where, f"no `{label}` function")
        return
    if not inspect.iscoroutinefunction(fn):
        raise SourceError(where, f"`{label}` must be async: write `async def {label}(db)`")


def _error_line(exc: BaseException, path: Path) -> str:
    tb = exc.__traceback__
    line = None
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == str(path):
            line = tb.tb_lineno
        tb = tb.tb_next
    return f" at line {line}" if line else ""

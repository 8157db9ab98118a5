"""The sandbox hub's admin setup: users, hosts, channels, tags, targets, packages.

Apart from :mod:`koji_containerbuild.sandbox.kojihub.hub` (which dispatches
calls as kojixmlrpc does) because these helpers are not RPCs: they stand for
what an admin does with the koji CLI (add-user, add-host, add-tag, add-target,
add-pkg, grant-cg-access) before the first build, writing the hub's state
directly, so tests and the demo set up a hub in one line each.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import koji

from koji_containerbuild.hostarch import host_arch

if TYPE_CHECKING:
    from koji_containerbuild.sandbox.kojihub.state import Database


class AdminSetup:
    """Admin helpers mixed into :class:`~koji_containerbuild.sandbox.kojihub.hub.SandboxHub`.

    They use the hub's ``db`` and, to tag as an admin would, its ``call``.
    """

    db: Database

    def add_user(
        self,
        name: str,
        password: str | None = None,
        perms=(),
        host: bool = False,
        arches: str | None = None,
    ) -> int:
        usertype = koji.USERTYPES["HOST"] if host else koji.USERTYPES["NORMAL"]
        with self.db.write() as cnx:
            row = cnx.execute("SELECT id FROM users WHERE name = ?", (name,)).fetchone()
            if row is not None:
                user_id = row["id"]
                cnx.execute("UPDATE users SET password = ? WHERE id = ?", (password, user_id))
            else:
                user_id = cnx.execute(
                    "INSERT INTO users (name, password, usertype) VALUES (?, ?, ?)",
                    (name, password, usertype),
                ).lastrowid
            if (
                host
                and not cnx.execute("SELECT 1 FROM hosts WHERE user_id = ?", (user_id,)).fetchone()
            ):
                host_id = cnx.execute(
                    "INSERT INTO hosts (user_id, name, arches) VALUES (?, ?, ?)",
                    (user_id, name, arches or host_arch()),
                ).lastrowid
                default = cnx.execute("SELECT id FROM channels WHERE name = 'default'").fetchone()
                cnx.execute("INSERT INTO host_channels VALUES (?, ?)", (host_id, default["id"]))
            self.db.new_event(cnx)
        for perm in perms:
            self.grant(name, perm)
        return user_id

    def set_host(self, name: str, arches: str | None = None, enabled: bool | None = None) -> None:
        """``koji edit-host NAME --arches ...`` and ``koji enable-host``/``disable-host``."""
        with self.db.write() as cnx:
            if arches is not None:
                cnx.execute("UPDATE hosts SET arches = ? WHERE name = ?", (arches, name))
            if enabled is not None:
                cnx.execute("UPDATE hosts SET enabled = ? WHERE name = ?", (int(enabled), name))
            self.db.new_event(cnx)

    def set_tag_arches(self, name: str, arches: str) -> None:
        """``koji edit-tag NAME --arches ...``."""
        with self.db.write() as cnx:
            cnx.execute("UPDATE tags SET arches = ? WHERE name = ?", (arches, name))
            self.db.new_event(cnx)

    def grant(self, user: str, perm: str) -> None:
        with self.db.write() as cnx:
            user_id = self._id(cnx, "users", user)
            cnx.execute("INSERT OR IGNORE INTO permissions (name) VALUES (?)", (perm,))
            perm_id = self._id(cnx, "permissions", perm)
            cnx.execute("INSERT OR IGNORE INTO user_perms VALUES (?, ?)", (user_id, perm_id))
            self.db.new_event(cnx)

    def add_channel(self, name: str) -> int:
        with self.db.write() as cnx:
            cnx.execute("INSERT OR IGNORE INTO channels (name) VALUES (?)", (name,))
            return self._id(cnx, "channels", name)

    def add_host_to_channel(self, host: str, channel: str, create: bool = True) -> None:
        with self.db.write() as cnx:
            if create:
                cnx.execute("INSERT OR IGNORE INTO channels (name) VALUES (?)", (channel,))
            host_row = cnx.execute("SELECT id FROM hosts WHERE name = ?", (host,)).fetchone()
            if host_row is None:
                raise koji.GenericError(f"No such host: {host}")
            channel_id = self._id(cnx, "channels", channel)
            cnx.execute(
                "INSERT OR IGNORE INTO host_channels VALUES (?, ?)", (host_row["id"], channel_id)
            )
            self.db.new_event(cnx)

    def add_tag(
        self,
        name: str,
        arches: str | None = "x86_64",
        locked: bool = False,
        perm: str | None = None,
        extra: dict | None = None,
    ) -> int:
        from koji_containerbuild.sandbox.kojihub.state import dump_json

        with self.db.write() as cnx:
            if cnx.execute("SELECT 1 FROM tags WHERE name = ?", (name,)).fetchone():
                raise koji.GenericError(f"A tag with the name {name} already exists")
            perm_id = None
            if perm is not None:
                perm_id = self._id(cnx, "permissions", perm)
            tag_id = cnx.execute(
                "INSERT INTO tags (name, arches, locked, perm_id, extra) VALUES (?, ?, ?, ?, ?)",
                (name, arches, int(bool(locked)), perm_id, dump_json(extra or {})),
            ).lastrowid
            self.db.new_event(cnx)
        return tag_id

    def add_target(self, name: str, build_tag: str, dest_tag: str) -> int:
        with self.db.write() as cnx:
            if cnx.execute("SELECT 1 FROM targets WHERE name = ?", (name,)).fetchone():
                raise koji.GenericError(f"A build target with the name '{name}' already exists")
            build_id = self._id(cnx, "tags", build_tag)
            dest_id = self._id(cnx, "tags", dest_tag)
            target_id = cnx.execute(
                "INSERT INTO targets (name, build_tag, dest_tag) VALUES (?, ?, ?)",
                (name, build_id, dest_id),
            ).lastrowid
            self.db.new_event(cnx)
        return target_id

    def ensure_package(self, name: str) -> int:
        with self.db.write() as cnx:
            cnx.execute("INSERT OR IGNORE INTO packages (name) VALUES (?)", (name,))
            return self._id(cnx, "packages", name)

    def add_package(self, tag: str, package: str, owner: str, blocked: bool = False) -> None:
        package_id = self.ensure_package(package)
        with self.db.write() as cnx:
            tag_id = self._id(cnx, "tags", tag)
            owner_id = self._id(cnx, "users", owner)
            cnx.execute(
                "INSERT OR REPLACE INTO tag_packages (tag_id, package_id, owner_id, blocked) "
                "VALUES (?, ?, ?, ?)",
                (tag_id, package_id, owner_id, int(bool(blocked))),
            )
            self.db.new_event(cnx)

    def grant_cg_access(self, user: str, cg_name: str, create: bool = True) -> None:
        with self.db.write() as cnx:
            if create:
                cnx.execute(
                    "INSERT OR IGNORE INTO content_generators (name) VALUES (?)", (cg_name,)
                )
            user_id = self._id(cnx, "users", user)
            cg_id = self._id(cnx, "content_generators", cg_name)
            cnx.execute("INSERT OR IGNORE INTO cg_users VALUES (?, ?)", (cg_id, user_id))
            self.db.new_event(cnx)

    def tag_build(self, tag: str, build) -> None:
        """Tag a build (by id or NVR) into a tag, as admin."""
        self.call("tagBuildBypass", (tag, build), session_user=self._admin_name())

    def _admin_name(self) -> str:
        row = self.db.one(
            "SELECT u.name FROM users u JOIN user_perms up ON up.user_id = u.id "
            "JOIN permissions p ON p.id = up.perm_id WHERE p.name = 'admin' LIMIT 1"
        )
        if row is None:
            raise koji.GenericError("the sandbox hub has no admin user")
        return row["name"]

    @staticmethod
    def _id(cnx, table: str, name) -> int:
        if isinstance(name, int):
            return name
        row = cnx.execute(f"SELECT id FROM {table} WHERE name = ?", (name,)).fetchone()
        if row is None:
            raise koji.GenericError("No such {}: {}".format(table.rstrip("s"), name))
        return row["id"]

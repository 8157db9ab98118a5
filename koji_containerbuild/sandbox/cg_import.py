"""Hub API: CGImport, checked the way kojihub's CG_Importer checks metadata."""

from __future__ import annotations

"""Programming languages Cloudemy knows how to grade."""

from typing import Literal

Language = Literal["python", "javascript", "typescript", "java", "c", "cpp", "go", "rust"]

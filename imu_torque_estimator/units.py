"""Unit constants shared by every layer (one definition each). Stamps are integer nanoseconds."""

NS_PER_S = 1_000_000_000

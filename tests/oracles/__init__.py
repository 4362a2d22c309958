"""Test oracles: the tutorials' own code, modernised only where modern frameworks force it."""

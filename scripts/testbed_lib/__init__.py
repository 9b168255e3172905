"""The test bed's code, one module a concern; scripts/testbed runs it and says how to use it."""

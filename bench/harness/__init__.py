"""The pieces of bench/compare.py: workloads, the strom and Flink runners, RSS sampling, the table."""

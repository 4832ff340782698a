"""Results and reporting: tables, statistics, figures and the leaderboard page.

Each module imports only what it needs; ``leaderboard`` and ``figures`` are CLI commands.
"""

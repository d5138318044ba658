"""Helpers shared by the test folders (no tests here): the course under test, the log
watcher, and the steps several features' tests take (joining, intros, prompts …)."""

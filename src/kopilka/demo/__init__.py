"""Demo data: a grocery program with a year and a half of realistic member history."""

from kopilka.demo.builder import build_demo
from kopilka.demo.model import Demo, DemoConfig, DemoResult

__all__ = ["Demo", "DemoConfig", "DemoResult", "build_demo"]

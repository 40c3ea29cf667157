"""python -m kiln --cmake_dir: the folder of kiln's CMake package (for -Dkiln_DIR=...);
--include_dir, --lib_dir: its headers and libkiln.a.
python -m kiln benchmark -m MODEL ...: how fast a model runs (python -m kiln benchmark -h)."""
import argparse
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv and argv[0] == "benchmark":
        from kiln.benchmark import main as benchmark
        return benchmark(argv[1:])
    p = argparse.ArgumentParser(prog="python -m kiln", description=__doc__)
    p.add_argument("--cmake_dir", action="store_true", help="print the folder of kilnConfig.cmake")
    p.add_argument("--include_dir", action="store_true", help="print the C++ include folder")
    p.add_argument("--lib_dir", action="store_true", help="print the folder of libkiln.a")
    a = p.parse_args(argv)
    paths = {"cmake_dir": os.path.join(HERE, "lib", "cmake", "kiln"), "include_dir": os.path.join(HERE, "include"),
             "lib_dir": os.path.join(HERE, "lib")}
    chosen = [k for k in paths if getattr(a, k)]
    if not chosen:
        p.print_help()
        return 2
    for k in chosen:
        if not os.path.isdir(paths[k]):
            print(f"kiln: {paths[k]} does not exist (kiln was not installed with its C++ package)", file=sys.stderr)
            return 1
        print(paths[k])
    return 0


if __name__ == "__main__":
    sys.exit(main())

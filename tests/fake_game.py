"""Stand-in for a packaged UE5 game in launcher tests: serves UnrealCV's protocol on the port of ./unrealcv.ini
(as UnrealCV reads it), renders with the embedded renderer, optionally crashes after N requests."""

from __future__ import annotations

import argparse
import configparser


def main() -> None:
    from synth.scenes.catalog import load_catalog
    from synth.testing.fake_unrealcv import FakeUnrealServer, Fault, unreal_catalog_for

    ap = argparse.ArgumentParser()
    ap.add_argument("--ini", default="unrealcv.ini")
    ap.add_argument("--crash-after", type=int, default=0)
    args, _unreal_flags = ap.parse_known_args()  # the launcher passes the map and -RenderOffScreen etc.
    cp = configparser.ConfigParser()
    cp.read(args.ini)
    port = int(cp["UnrealCV.Core"]["Port"])
    embedded = load_catalog()
    _, amap = unreal_catalog_for(embedded)
    faults = [Fault(args.crash_after, "crash")] if args.crash_after else []
    FakeUnrealServer(embedded, amap, port=port, faults=faults).serve_forever()


if __name__ == "__main__":
    main()

#!/usr/bin/env python3
"""Drives keeper.py's frame decoder on fuzzed input, for test/unit/fuzz/keeperDecoderFuzz.test.ts.

usage: keeperDecode.py KEEPER_PY < cases

One JSON case per stdin line: {"hex": "<bytes>", "chunks": [sizes fed in turn, cycled]}.
One JSON verdict per stdout line: {"types": [frame type of each frame decoded],
"error": ProtocolError text or null, "exception": repr of anything else or null,
"pending": most bytes the decoder held, "ms": decoding time}. An input that takes longer
than 2 s is stopped and reported as an exception ("hang"); the harness itself never dies on
one input, so every case gets its line.
"""
import importlib.util
import json
import signal
import sys
import time


class Hang(Exception):
    pass


def on_alarm(*_):
    raise Hang('decoding took longer than 2 s')


def load(path):
    spec = importlib.util.spec_from_file_location('keeper_under_test', path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # keeper.py runs nothing at import (main() is guarded)
    return module


def decode(keeper, data, chunks):
    dec = keeper.Decoder()
    types = []
    pending = 0
    pos = 0
    i = 0
    error = None
    try:
        while pos < len(data):
            n = max(1, chunks[i % len(chunks)]) if chunks else len(data)
            i += 1
            types.extend(f[0] for f in dec.feed(data[pos:pos + n]))
            pending = max(pending, len(dec.buf))
            pos += n
    except keeper.ProtocolError as e:
        error = str(e)
    return types, error, pending


def main(argv):
    keeper = load(argv[1])
    signal.signal(signal.SIGALRM, on_alarm)
    for line in sys.stdin:
        case = json.loads(line)
        data = bytes.fromhex(case['hex'])
        started = time.perf_counter()
        out = {'types': [], 'error': None, 'exception': None, 'pending': 0}
        signal.setitimer(signal.ITIMER_REAL, 2.0)
        try:
            out['types'], out['error'], out['pending'] = decode(keeper, data, case.get('chunks') or [])
        except Exception as e:  # the finding: anything but ProtocolError escaped the decoder
            out['exception'] = repr(e)
        finally:
            signal.setitimer(signal.ITIMER_REAL, 0)
        out['ms'] = (time.perf_counter() - started) * 1000
        sys.stdout.write(json.dumps(out) + '\n')
    sys.stdout.flush()
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))

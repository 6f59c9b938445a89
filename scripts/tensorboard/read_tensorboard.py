"""Reads a patchrnn --tensorboard folder with TensorBoard's own event reader and prints what
it finds: the event files, every scalar tag (steps and values), the images (step, size, PNG
bytes) and the text summaries. Run through scripts/read-tensorboard.sh (it makes the venv).

    scripts/read-tensorboard.sh DIR [--all]

Without --all a scalar tag shows its first three and last two steps."""
import glob
import os
import sys

from tensorboard.backend.event_processing import event_accumulator, plugin_event_accumulator


def main(argv):
    args = [a for a in argv if not a.startswith("--")]
    show_all = "--all" in argv
    if len(args) != 1:
        print(__doc__, file=sys.stderr)
        return 2
    folder = args[0]
    files = sorted(glob.glob(os.path.join(folder, "events.out.tfevents.*")))
    if not files:
        print(f"read-tensorboard: no event files in {folder}", file=sys.stderr)
        return 1
    print(f"{len(files)} event file(s) in {folder}:")
    for f in files:
        print(f"  {os.path.basename(f)} ({os.path.getsize(f)} bytes)")
    # 0 = keep every event (the default guidance samples some kinds down).
    acc = event_accumulator.EventAccumulator(
        folder, size_guidance={event_accumulator.SCALARS: 0, event_accumulator.IMAGES: 0, event_accumulator.TENSORS: 0})
    acc.Reload()
    tags = acc.Tags()
    print(f"file version: {acc.file_version}")
    for tag in sorted(tags["scalars"]):
        events = acc.Scalars(tag)
        steps = [e.step for e in events]
        dup = len(steps) - len(set(steps))
        shown = events if show_all or len(events) <= 5 else events[:3] + [None] + events[-2:]
        values = ", ".join("..." if e is None else f"{e.step}: {e.value:.6g}" for e in shown)
        print(f"scalar {tag}: {len(events)} steps ({steps[0]}-{steps[-1]}, {dup} duplicates) {values}")
    for tag in sorted(tags["images"]):
        for e in acc.Images(tag):
            png = e.encoded_image_string
            kind = "PNG" if png[:8] == b"\x89PNG\r\n\x1a\n" else "not a PNG"
            print(f"image {tag} step {e.step}: {e.width}x{e.height}, {len(png)} bytes {kind}")
    # How the TensorBoard server files the same tags (its loader migrates simple_value to the
    # scalars plugin and Summary.Image to the images plugin; the text carries its plugin name).
    server = plugin_event_accumulator.EventAccumulator(folder, size_guidance={plugin_event_accumulator.TENSORS: 0})
    server.Reload()
    for plugin in ("scalars", "images", "text"):
        print(f"plugin {plugin}: {', '.join(sorted(server.PluginTagToContent(plugin)))}")
    for tag in sorted(tags["tensors"]):
        for e in acc.Tensors(tag):
            text = b"".join(e.tensor_proto.string_val).decode()
            first = text.splitlines()[:4]
            print(f"text {tag} step {e.step}: {len(text.splitlines())} lines; " + " / ".join(first) + " ...")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

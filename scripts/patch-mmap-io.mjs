#!/usr/bin/env node
/**
 * Patches mmap-io 1.1.7 for 64-bit files and builds it, so the mmap reader can read shards
 * larger than 2 GiB. Runs as the project's `postinstall`, and by hand
 * (`node scripts/patch-mmap-io.mjs`) to see why a build failed.
 *
 * Upstream casts size and offset through `int`: offsets in [2, 4) GiB throw and offsets >= 4 GiB
 * silently map the wrong region. Mapped Buffers are also released only at GC, so a stream through
 * a 5 GB shard would keep every window resident; the patch adds `unmap(buffer)`, which unmaps at
 * once and detaches the Buffer so JavaScript can never touch the freed range.
 *
 * Upstream's own install script cannot build on Node 20 (its binding.gyp forces -std=c++11 and
 * V8's headers need C++17), so package.json denies it in `allowScripts` and this script builds
 * instead, with -std=c++17. It is idempotent: a loadable binary carrying the patch marker is
 * left alone. It never fails the install (pass --strict to make failures exit 1): without the
 * native module the mmap reader reports itself unavailable and pread still works.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const PATCH_LEVEL = 1;
const UPSTREAM_VERSION = '1.1.7';
const strict = process.argv.includes('--strict');
const require = createRequire(import.meta.url);

function say(message) {
  console.log(`[patch-mmap-io] ${message}`);
}

function giveUp(message) {
  say(`${message}; the mmap reader will be unavailable (pread is unaffected).`);
  process.exit(strict ? 1 : 0);
}

/** Replaces `from` by `to`, which must occur exactly once: a mismatch means another upstream. */
function replaceOnce(text, from, to, what) {
  const at = text.indexOf(from);
  if (at < 0 || text.indexOf(from, at + 1) >= 0) {
    throw new Error(`cannot patch ${what}: expected text ${at < 0 ? 'not found' : 'found twice'}`);
  }
  return text.slice(0, at) + to + text.slice(at + from.length);
}

const EDITS = [
  {
    what: 'includes',
    from: '#include <string>\n',
    to: `#include <string>
#include <cstdint>
#include <cstring>
#include <mutex>
#include <unordered_map>

// lineage patch (scripts/patch-mmap-io.mjs): 64-bit sizes and offsets, unmap() on demand.
#define LINEAGE_PATCH_LEVEL ${PATCH_LEVEL}
#ifndef _WIN32
static_assert(sizeof(off_t) >= 8, "mmap offsets need a 64-bit off_t");
#endif
`,
  },
  {
    what: 'MMap bookkeeping',
    from: `    char*   data = nullptr;
    size_t  size = 0;
};


void do_mmap_cleanup(char* data, void* hint) {
    auto map_info = static_cast<MMap*>(hint);
    munmap(data, map_info->size);
    delete map_info;
}
`,
    to: `    char*   data = nullptr;
    size_t  size = 0;
    bool    unmapped = false;  // set by unmap(): the GC callback must not unmap again
};

// Live mappings by address, so that unmap(buffer) can find the MMap behind a Buffer.
static std::mutex live_maps_mutex;
static std::unordered_map<char*, MMap*> live_maps;

void do_mmap_cleanup(char* data, void* hint) {
    auto map_info = static_cast<MMap*>(hint);
    {
        std::lock_guard<std::mutex> lock(live_maps_mutex);
        if (!map_info->unmapped) {
            live_maps.erase(data);
            munmap(data, map_info->size);
        }
    }
    delete map_info;
}

// JavaScript numbers are exact integers up to 2^53; upstream went through int and lost the top bits.
inline bool get_u53(Local<Value> v, int64_t default_value, int64_t& out) {
    if (v->IsUndefined()) { out = default_value; return true; }
    if (!v->IsNumber()) return false;
    const double d = Nan::To<double>(v).FromJust();
    if (!(d >= 0 && d <= 9007199254740991.0) || d != static_cast<double>(static_cast<int64_t>(d))) return false;
    out = static_cast<int64_t>(d);
    return true;
}

inline std::string errno_text(const char* what, int err) {
    return std::string(what) + std::to_string(err) + " (" + strerror(err) + ")";
}
`,
  },
  {
    what: 'map() argument count',
    from: 'if (info.Length() < 4 && info.Length() > 6) {',
    to: 'if (info.Length() < 4 || info.Length() > 6) {',
  },
  {
    what: 'map() size and offset',
    from: `    const size_t    size            = static_cast<size_t>(get_v<int>(info[0]));
    const int       protection      = get_v<int>(info[1]);
    const int       flags           = get_v<int>(info[2]);
    const int       fd              = get_v<int>(info[3]);
    const size_t    offset          = static_cast<size_t>(get_v<int>(info[4], 0));
    const int       advise          = get_v<int>(info[5], 0);

    char* data = static_cast<char*>( mmap( hinted_address, size, protection, flags, fd, offset) );

    if (data == MAP_FAILED) {
        return Nan::ThrowError((std::string("mmap failed, ") + std::to_string(errno)).c_str());
    }
    else {
        if (advise != 0) {
            auto ret = do_mmap_advice(data, size, advise);
            if (ret) {
                return Nan::ThrowError((std::string("madvise() failed, ") + std::to_string(errno)).c_str());
            }
`,
    to: `    int64_t size_arg = 0, offset_arg = 0;
    if (!get_u53(info[0], 0, size_arg) || size_arg == 0) {
        return Nan::ThrowError("mmap: size (arg[0]) must be a positive integer below 2^53");
    }
    if (!get_u53(info[4], 0, offset_arg)) {
        return Nan::ThrowError("mmap: offset (arg[4]) must be a non-negative integer below 2^53");
    }
    const size_t    size            = static_cast<size_t>(size_arg);
    const int       protection      = get_v<int>(info[1]);
    const int       flags           = get_v<int>(info[2]);
    const int       fd              = get_v<int>(info[3]);
    const off_t     offset          = static_cast<off_t>(offset_arg);
    const int       advise          = get_v<int>(info[5], 0);

    char* data = static_cast<char*>( mmap( hinted_address, size, protection, flags, fd, offset) );

    if (data == MAP_FAILED) {
        return Nan::ThrowError(errno_text("mmap failed, ", errno).c_str());
    }
    else {
        if (advise != 0) {
            auto ret = do_mmap_advice(data, size, advise);
            if (ret) {
                const int err = errno;
                munmap(data, size);
                return Nan::ThrowError(errno_text("madvise() failed, ", err).c_str());
            }
`,
  },
  {
    what: 'map() registration',
    from: `        auto map_info = new MMap(data, size);
        Nan::MaybeLocal<Object> buf`,
    to: `        auto map_info = new MMap(data, size);
        {
            std::lock_guard<std::mutex> lock(live_maps_mutex);
            live_maps[data] = map_info;
        }
        // On failure node calls do_mmap_cleanup itself, which unmaps and forgets the mapping.
        Nan::MaybeLocal<Object> buf`,
  },
  {
    what: 'advise() offset and length',
    from: `    int ret = ([&]() -> int {
        if (info.Length() == 2) {
            int advise = get_v<int>(info[1], 0);
            return do_mmap_advice(data, size, advise);
        }
        else {
            int offset = get_v<int>(info[1], 0);
            int length = get_v<int>(info[2], 0);
            int advise = get_v<int>(info[3], 0);
            return do_mmap_advice(data + offset, length, advise);
        }
    })();
`,
    to: `    int64_t offset = 0, length = static_cast<int64_t>(size);
    int advise = 0;
    if (info.Length() == 2) {
        advise = get_v<int>(info[1], 0);
    }
    else {
        if (!get_u53(info[1], 0, offset) || !get_u53(info[2], 0, length)
            || static_cast<uint64_t>(offset + length) > size) {
            return Nan::ThrowError("advise(): offset and length must lie inside the buffer");
        }
        advise = get_v<int>(info[3], 0);
    }
    int ret = do_mmap_advice(data + offset, static_cast<size_t>(length), advise);
`,
  },
  {
    what: 'sync() offset and length',
    from: `    int             offset          = get_v<int>(info[1], 0);
    size_t          length          = get_v<int>(info[2], 0);
`,
    to: `    int64_t         offset          = 0;
    int64_t         length          = 0;
    if (!get_u53(info[1], 0, offset) || !get_u53(info[2], 0, length)
        || static_cast<uint64_t>(offset + length) > node::Buffer::Length(buf)) {
        return Nan::ThrowError("sync(): offset and length must lie inside the buffer");
    }
`,
  },
  {
    what: 'unmap()',
    from: '\nNAN_MODULE_INIT(Init) {',
    to: `
/**
 * unmap(buffer): releases a mapping now instead of at GC. The Buffer (and every view of its
 * ArrayBuffer) is detached first, so JavaScript sees it empty rather than unmapped memory.
 */
JS_FN(mmap_unmap) {
    Nan::HandleScope();

    if (info.Length() != 1 || !info[0]->IsArrayBufferView()) {
        return Nan::ThrowError("unmap() takes 1 argument: (buffer :Buffer) as returned by map()");
    }
    Local<ArrayBufferView> view = info[0].As<ArrayBufferView>();
    Local<ArrayBuffer> array_buffer = view->Buffer();
    char* data = node::Buffer::Data(info[0]);
    MMap* map_info = nullptr;
    {
        std::lock_guard<std::mutex> lock(live_maps_mutex);
        auto it = live_maps.find(data);
        if (it == live_maps.end()) {
            return Nan::ThrowError("unmap(): not a live mapping made by map() (already unmapped?)");
        }
        map_info = it->second;
        if (view->ByteOffset() != 0 || view->ByteLength() != map_info->size) {
            return Nan::ThrowError("unmap(): pass the whole Buffer returned by map(), not a slice");
        }
    }
    if (!array_buffer->IsDetachable()) {
        return Nan::ThrowError("unmap(): this Buffer cannot be detached, so it cannot be unmapped safely");
    }
#if V8_MAJOR_VERSION >= 11
    if (array_buffer->Detach(Local<Value>()).IsNothing()) {
        return Nan::ThrowError("unmap(): could not detach the Buffer");
    }
#else
    array_buffer->Detach();
#endif
    std::lock_guard<std::mutex> lock(live_maps_mutex);
    // Look again: had node run do_mmap_cleanup during Detach, the mapping would be gone already.
    auto it = live_maps.find(data);
    if (it != live_maps.end() && it->second == map_info) {
        if (munmap(data, map_info->size)) {
            return Nan::ThrowError(errno_text("munmap() failed, ", errno).c_str());
        }
        map_info->unmapped = true;
        live_maps.erase(it);
    }
}

NAN_MODULE_INIT(Init) {`,
  },
  {
    what: 'exports',
    from: `    set_fn_prop("incore", mmap_incore);
`,
    to: `    set_fn_prop("incore", mmap_incore);
    set_fn_prop("unmap", mmap_unmap);
    set_int_prop("LINEAGE_PATCH", LINEAGE_PATCH_LEVEL);
`,
  },
];

function writeAtomically(file, text) {
  writeFileSync(`${file}.tmp`, text);
  renameSync(`${file}.tmp`, file);
}

/** Patch level of the built binary, or null when it is missing, unpatched or for another ABI. */
function builtPatchLevel(binary) {
  if (!existsSync(binary)) return null;
  const probe = spawnSync(process.execPath, ['-e', `process.stdout.write(String(require(${JSON.stringify(binary)}).LINEAGE_PATCH))`], { encoding: 'utf8' });
  return probe.status === 0 && /^\d+$/.test(probe.stdout) ? Number(probe.stdout) : null;
}

/** node-gyp: npm names it for lifecycle scripts; by hand, use the copy bundled with npm. */
function findNodeGyp() {
  const candidates = [
    process.env.npm_config_node_gyp,
    join(dirname(process.execPath), '..', 'lib', 'node_modules', 'npm', 'node_modules', 'node-gyp', 'bin', 'node-gyp.js'),
  ];
  return candidates.find((file) => file && existsSync(file)) ?? null;
}

function main() {
  let root;
  try {
    root = dirname(require.resolve('mmap-io/package.json'));
  } catch {
    giveUp('mmap-io is not installed');
  }
  const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version;
  if (version !== UPSTREAM_VERSION) giveUp(`mmap-io ${version} is installed, but this patch is for ${UPSTREAM_VERSION}`);

  const binary = join(root, 'build', 'Release', 'mmap-io.node');
  if (builtPatchLevel(binary) === PATCH_LEVEL) {
    say(`mmap-io ${version} is already patched (level ${PATCH_LEVEL}) and built.`);
    return;
  }

  const sourceFile = join(root, 'src', 'mmap-io.cc');
  let source = readFileSync(sourceFile, 'utf8');
  if (!source.includes('LINEAGE_PATCH_LEVEL')) {
    try {
      for (const edit of EDITS) source = replaceOnce(source, edit.from, edit.to, edit.what);
    } catch (err) {
      giveUp(err.message);
    }
    writeAtomically(sourceFile, source);
  } else if (!source.includes(`#define LINEAGE_PATCH_LEVEL ${PATCH_LEVEL}\n`)) {
    giveUp('src/mmap-io.cc carries another patch level; reinstall mmap-io to start from upstream');
  }
  const gypFile = join(root, 'binding.gyp');
  writeAtomically(gypFile, readFileSync(gypFile, 'utf8').replaceAll('-std=c++11', '-std=c++17'));

  const nodeGyp = findNodeGyp();
  if (nodeGyp === null) giveUp('node-gyp not found (it ships with npm)');
  const args = [nodeGyp, 'rebuild'];
  // Without a nodedir, node-gyp downloads headers; use the running Node's own when it has them.
  const prefix = join(dirname(process.execPath), '..');
  if (!process.env.npm_config_nodedir && existsSync(join(prefix, 'include', 'node', 'node.h'))) args.push(`--nodedir=${prefix}`);
  say(`building mmap-io ${version} with 64-bit offsets (node-gyp rebuild)...`);
  const build = spawnSync(process.execPath, args, {
    cwd: root,
    encoding: 'utf8',
    env: { ...process.env, CXXFLAGS: `${process.env.CXXFLAGS ?? ''} -std=c++17`.trim() },
  });
  if (build.status !== 0) {
    const output = `${build.stdout ?? ''}${build.stderr ?? ''}`.trim().split('\n').slice(-25).join('\n');
    console.log(output);
    giveUp(`node-gyp rebuild failed (${build.error?.message ?? `exit status ${build.status}`})`);
  }
  const level = builtPatchLevel(binary);
  if (level !== PATCH_LEVEL) giveUp(`the rebuilt binary does not load or lacks the patch marker (got ${level})`);
  say(`mmap-io ${version} patched (level ${PATCH_LEVEL}) and built.`);
}

main();

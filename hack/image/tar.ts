// A reproducible tar writer for image layers: entries in the order given (the caller sorts them), every
// header with the same mtime, uid/gid 0 and no user or group names, so the same files give the same bytes
// on any machine. Names longer than ustar's 100 bytes get a PAX extended header (`path`, `linkpath`).

/** One entry of a layer. Paths are relative to the root, without a leading slash. */
export type TarEntry =
  | { readonly kind: 'dir'; readonly path: string; readonly mode: number }
  | { readonly kind: 'file'; readonly path: string; readonly mode: number; readonly data: Buffer }
  | { readonly kind: 'symlink'; readonly path: string; readonly target: string };

const BLOCK = 512;

function octal(n: number, width: number): string {
  return `${n.toString(8).padStart(width - 1, '0')}\0`;
}

function header(opts: { name: string; mode: number; size: number; type: string; link: string; mtime: number }): Buffer {
  const h = Buffer.alloc(BLOCK);
  h.write(opts.name, 0, 100, 'utf8');
  h.write(octal(opts.mode & 0o7777, 8), 100, 'ascii');
  h.write(octal(0, 8), 108, 'ascii');
  h.write(octal(0, 8), 116, 'ascii');
  h.write(octal(opts.size, 12), 124, 'ascii');
  h.write(octal(opts.mtime, 12), 136, 'ascii');
  h.write('        ', 148, 'ascii');
  h.write(opts.type, 156, 'ascii');
  h.write(opts.link, 157, 100, 'utf8');
  h.write('ustar\u000000', 257, 'ascii');
  h.write(octal(0, 8), 329, 'ascii');
  h.write(octal(0, 8), 337, 'ascii');
  let sum = 0;
  for (const b of h) sum += b;
  h.write(`${sum.toString(8).padStart(6, '0')}\0 `, 148, 'ascii');
  return h;
}

function pad(size: number): Buffer {
  return Buffer.alloc((BLOCK - (size % BLOCK)) % BLOCK);
}

function paxRecord(key: string, value: string): string {
  const body = ` ${key}=${value}\n`;
  let len = Buffer.byteLength(body) + 1;
  while (String(len).length + Buffer.byteLength(body) !== len) len = String(len).length + Buffer.byteLength(body);
  return `${len}${body}`;
}

/** The bytes of a tar archive holding `entries` in the given order, all dated `mtime` (seconds). */
export function tarBytes(entries: readonly TarEntry[], mtime: number): Buffer {
  const parts: Buffer[] = [];
  for (const e of entries) {
    const name = e.kind === 'dir' ? `${e.path}/` : e.path;
    const link = e.kind === 'symlink' ? e.target : '';
    const pax = [
      ...(Buffer.byteLength(name) > 100 ? [paxRecord('path', name)] : []),
      ...(Buffer.byteLength(link) > 100 ? [paxRecord('linkpath', link)] : []),
    ].join('');
    if (pax) {
      const data = Buffer.from(pax, 'utf8');
      parts.push(header({ name: 'PaxHeader', mode: 0o644, size: data.length, type: 'x', link: '', mtime }), data, pad(data.length));
    }
    const short = (s: string): string => (Buffer.byteLength(s) > 100 ? Buffer.from(s).subarray(0, 100).toString('utf8') : s);
    if (e.kind === 'file') {
      parts.push(header({ name: short(name), mode: e.mode, size: e.data.length, type: '0', link: '', mtime }), e.data, pad(e.data.length));
    } else if (e.kind === 'dir') {
      parts.push(header({ name: short(name), mode: e.mode, size: 0, type: '5', link: '', mtime }));
    } else {
      parts.push(header({ name: short(name), mode: 0o777, size: 0, type: '2', link: short(link), mtime }));
    }
  }
  parts.push(Buffer.alloc(BLOCK * 2));
  return Buffer.concat(parts);
}

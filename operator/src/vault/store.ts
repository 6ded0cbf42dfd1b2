// The narrow interface every vault backend implements, and an in-memory fake for unit tests.

/** One object as a listing reports it. */
export interface StoredObject {
  readonly key: string;
  readonly size: number;
  readonly modified: Date;
}

/** Where a vault's objects live: a filesystem directory or an S3 bucket prefix. Keys use '/' separators. */
export interface ObjectStore {
  /** Human-readable location, used in error messages. */
  readonly location: string;
  /** Stores an object durably enough that a later `sync()` makes it survive a crash. */
  put(key: string, data: Uint8Array): Promise<void>;
  /** Reads a whole object; throws NotFoundError when it does not exist, and an error when it exceeds maxBytes. */
  get(key: string, maxBytes?: number): Promise<Buffer>;
  /** True when an object exists under this key. */
  has(key: string): Promise<boolean>;
  /** Lists every object whose key starts with prefix. */
  list(prefix: string): AsyncIterable<StoredObject>;
  /** Removes an object; removing a missing object is not an error. */
  delete(key: string): Promise<void>;
  /** Removes many objects in as few requests as the backend allows (S3 DeleteObjects, parallel unlinks). */
  deleteMany(keys: readonly string[]): Promise<void>;
  /** Removes the leftovers of interrupted writes last touched before `before`; returns how many (fs only). */
  cleanTemp?(before: Date): Promise<number>;
  /** Makes every earlier put durable (directory entries on a filesystem); a no-op where puts already are. */
  sync(): Promise<void>;
}

/** Thrown by `get` when the key does not exist. */
export class NotFoundError extends Error {
  readonly key: string;
  constructor(key: string, location: string) {
    super(`object ${key} not found in vault ${location}`);
    this.name = 'NotFoundError';
    this.key = key;
  }
}

/** An ObjectStore held in memory, for unit tests of code that talks to a vault. */
export class MemoryStore implements ObjectStore {
  readonly location = 'memory://';
  readonly objects = new Map<string, { data: Buffer; modified: Date }>();
  /** The store's own clock (stamps `modified`); tests move it apart from the processes' clocks. */
  clock: () => number = () => Date.now();

  async put(key: string, data: Uint8Array): Promise<void> {
    this.objects.set(key, { data: Buffer.from(data), modified: new Date(this.clock()) });
  }

  async get(key: string, maxBytes = Number.MAX_SAFE_INTEGER): Promise<Buffer> {
    const o = this.objects.get(key);
    if (!o) throw new NotFoundError(key, this.location);
    if (o.data.length > maxBytes) throw new Error(`object ${key} has ${o.data.length} bytes, more than the ${maxBytes} it may have`);
    return Buffer.from(o.data);
  }

  async has(key: string): Promise<boolean> {
    return this.objects.has(key);
  }

  async *list(prefix: string): AsyncIterable<StoredObject> {
    for (const [key, o] of [...this.objects.entries()].sort((a, b) => a[0].localeCompare(b[0]))) {
      if (key.startsWith(prefix)) yield { key, size: o.data.length, modified: o.modified };
    }
  }

  async delete(key: string): Promise<void> {
    this.objects.delete(key);
  }

  async deleteMany(keys: readonly string[]): Promise<void> {
    for (const k of keys) await this.delete(k);
  }

  async sync(): Promise<void> {}
}

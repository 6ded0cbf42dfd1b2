// Kubernetes quantities as the API accepts them for byte rates and sizes (`bandwidthLimit: 50Mi`):
// decimal suffixes k, M, G, T are powers of 1000 and binary ones Ki, Mi, Gi, Ti powers of 1024, as
// `kubectl` users read them. The data mover's CLI takes plain byte counts from the operator, so the
// two conventions never meet inside the mover.

const FACTORS: Record<string, number> = {
  '': 1, k: 1e3, M: 1e6, G: 1e9, T: 1e12, Ki: 2 ** 10, Mi: 2 ** 20, Gi: 2 ** 30, Ti: 2 ** 40,
};

/** Bytes in a quantity such as `50Mi`, `1.5G` or `2048`; throws, naming the value, when it is not one. */
export function quantityToBytes(text: string): number {
  const m = /^([0-9]+(?:\.[0-9]+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(text);
  if (!m) throw new Error(`'${text}' is not a byte quantity: use a number with an optional k, M, G, T, Ki, Mi, Gi or Ti suffix`);
  return Math.round(Number(m[1]) * FACTORS[m[2] ?? '']!);
}

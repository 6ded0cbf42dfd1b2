import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { quantityToBytes } from './quantity.ts';

const t = suite('api: byte quantities');

t('decimal and binary suffixes mean what kubectl users expect', () => {
  assert.is(quantityToBytes('2048'), 2048);
  assert.is(quantityToBytes('50M'), 50_000_000);
  assert.is(quantityToBytes('50Mi'), 50 * 1024 * 1024);
  assert.is(quantityToBytes('1.5k'), 1500);
  assert.is(quantityToBytes('1Ti'), 2 ** 40);
});

t('anything else is refused with the value in the message', () => {
  for (const bad of ['', '10 MB/s', '5K', '-1', 'Mi', '1e6']) {
    assert.throws(() => quantityToBytes(bad), (e: Error) => e.message.includes(`'${bad}'`), bad);
  }
});

t.run();

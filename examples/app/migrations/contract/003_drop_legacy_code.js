// v3 (contract): drop what only v1 read. Safe only once no node runs v1.
export const up = (pgm) => {
  pgm.dropColumn('items', 'legacy_code');
};

export const down = (pgm) => {
  pgm.addColumn('items', { legacy_code: { type: 'text', notNull: true, default: 'none' } });
};

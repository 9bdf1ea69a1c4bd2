// v2 (expand): a new nullable column; v1 ignores it, so v1 keeps working on this schema.
export const up = (pgm) => {
  pgm.addColumn('items', { description: { type: 'text' } });
};

export const down = (pgm) => {
  pgm.dropColumn('items', 'description');
};

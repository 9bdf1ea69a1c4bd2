// v1: the base schema.
export const up = (pgm) => {
  pgm.createTable('items', {
    id: 'id',
    name: { type: 'text', notNull: true },
    legacy_code: { type: 'text', notNull: true, default: 'none' },
  });
  pgm.sql("INSERT INTO items (name, legacy_code) VALUES ('teapot', 'T-1'), ('kettle', 'K-1')");
};

export const down = (pgm) => {
  pgm.dropTable('items');
};

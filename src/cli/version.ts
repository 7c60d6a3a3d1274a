/** The software version this rewrite is compatible with, as `pio version` prints it. */
export const SOFTWARE_VERSION = "26.7.2";

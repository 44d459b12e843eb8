/**
 * @safla/server
 *
 * @module
 */
export {};

/**
 * @safla/sim
 *
 * @module
 */
export {};

#!/usr/bin/env node
import { launch } from './launch.js'

await launch('peerloom-relay', 'src/main/relay.ts')
